"""Tags on components: what an extractor or head *is*, asked of the class.

The runner, the protocols and the report never keep lists of component
names ("which heads score pairs", "which make binary codes"); they ask the
component. A component declares its tags with a ``__transfer_tags__``
method returning a mapping, merged along the class hierarchy by the
classes themselves (call ``super().__transfer_tags__()`` and update it), in
the manner of scikit-learn's ``__sklearn_tags__``.

Known tags (absent means False / None):

``kind`` : {"learned", "handcrafted"}
    Extractors: features learned from data (a network) or designed by hand.
``scores_pairs`` : bool
    Heads: a pair verifier (``fit`` on pairs or identities, ``score_pairs``).
``binary_codes`` : bool
    Heads: works on binarised features (Hamming distance, Joint Bayesian on
    sign codes).
``binary_code_column`` : str
    Heads: the column of the DeepID2+ real-vs-binary comparison this head
    fills ("Joint Bayesian (real)", "Joint Bayesian (binary)",
    "Hamming (binary)").
``multilabel`` : bool
    Heads: fit a 0/1 label matrix (one column per binary label, such as
    face attributes) and predict one; the attributes protocol needs it.
``colour_input`` : bool
    Extractors: works on RGB images, so a small ``(h, w, 3)`` array is read
    as one image rather than three grey ones (see
    :func:`transfer.features.base.as_extractor_input`).
``mixed_sizes`` : {"split", "list"}
    Extractors: accept images of several sizes: "split" runs them in batches
    of one size each (a network that resizes to its input), "list" passes a
    list of images (dlib, which describes each face chip alone).
``learns_from_images`` : bool
    Pair heads: can fit on images with identity labels (unrestricted
    training) rather than on pairs only.
"""

from __future__ import annotations

from typing import Any

__all__ = ["component_tags"]


def component_tags(component: Any) -> dict[str, Any]:
    """The tags of ``component`` (an estimator instance), as a plain dict.

    Parameters
    ----------
    component : object
        An extractor, head or protocol.

    Returns
    -------
    dict
        ``component.__transfer_tags__()`` when defined, else ``{}``.
    """
    method = getattr(component, "__transfer_tags__", None)
    return dict(method()) if callable(method) else {}
