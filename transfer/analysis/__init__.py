"""The lecture's neuron analyses (DeepID2+): sparsity, selectivity, binary codes,
occlusion robustness and filter pictures, for any features.

Each analysis is a function over arrays (features, labels, attributes,
pairs) that returns a :class:`pandas.DataFrame`, the CSV that
``transfer analyze`` writes, and most have a figure helper drawing on the
Agg canvas (no pyplot state). The submodules:

- :mod:`~transfer.analysis.sparsity`: active fraction per image and per unit.
- :mod:`~transfer.analysis.selectivity`: per-unit statistics over identities
  and attributes, best single-unit accuracies (single-neuron head).
- :mod:`~transfer.analysis.binary`: verification on real values against
  binary codes.
- :mod:`~transfer.analysis.occlusion`: similarity and accuracy under
  growing grey occluders.
- :mod:`~transfer.analysis.filters`: first-layer filters and top-activating
  images as image grids.

Each module also registers its analysis as a recipe component (the
``analyses:`` section, ``transfer analyze``; :mod:`~transfer.analysis.base`)
and the report section that shows it: ``sparsity``, ``selectivity``,
``occlusion``, ``filters`` and ``binary_codes``.

References
----------
.. [1] Sun, Wang, Tang. "Deeply learned face representations are sparse,
   selective, and robust." CVPR 2015.
.. [2] Zeiler, Fergus. "Visualizing and understanding convolutional
   networks." ECCV 2014.
"""

from transfer.analysis.base import Analysis, AnalysisContext, AnalysisOutput
from transfer.analysis.binary import (
    BinaryCodesAnalysis,
    binary_code_verification,
    binary_codes,
)
from transfer.analysis.filters import (
    FiltersAnalysis,
    filter_grid,
    first_conv_kernels,
    image_grid,
    plot_image_grid,
    top_activating_images,
    top_image_grid,
)
from transfer.analysis.occlusion import (
    OcclusionAnalysis,
    cosine_similarity_rows,
    occlude,
    occlusion_robustness,
    plot_occlusion,
)
from transfer.analysis.selectivity import (
    SelectivityAnalysis,
    attribute_selectivity,
    d_prime,
    identity_activation_stats,
    identity_selectivity,
    identity_single_unit_accuracy,
    pair_single_unit_accuracy,
    plot_attribute_heatmap,
    single_unit_accuracy,
)
from transfer.analysis.sparsity import (
    SparsityAnalysis,
    activation_criterion,
    plot_sparsity,
    sparsity_histograms,
    sparsity_per_image,
    sparsity_per_unit,
    sparsity_summary,
)

__all__ = [
    "Analysis",
    "AnalysisContext",
    "AnalysisOutput",
    "BinaryCodesAnalysis",
    "FiltersAnalysis",
    "OcclusionAnalysis",
    "SelectivityAnalysis",
    "SparsityAnalysis",
    "activation_criterion",
    "attribute_selectivity",
    "binary_code_verification",
    "binary_codes",
    "cosine_similarity_rows",
    "d_prime",
    "filter_grid",
    "first_conv_kernels",
    "identity_activation_stats",
    "identity_selectivity",
    "identity_single_unit_accuracy",
    "image_grid",
    "occlude",
    "occlusion_robustness",
    "pair_single_unit_accuracy",
    "plot_attribute_heatmap",
    "plot_image_grid",
    "plot_occlusion",
    "plot_sparsity",
    "single_unit_accuracy",
    "sparsity_histograms",
    "sparsity_per_image",
    "sparsity_per_unit",
    "sparsity_summary",
    "top_activating_images",
    "top_image_grid",
]
