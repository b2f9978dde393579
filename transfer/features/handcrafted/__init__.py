"""Handcrafted features: raw pixels, LBP, HOG and Gabor.

Each is a plain function over a batch of grey images ``(n, height, width)``
and a thin scikit-learn transformer around it, registered by name (importing
this package registers "pixels", "lbp", "hd_lbp", "hog" and "gabor"). All are
stateless, except "hd_lbp" with PCA compression (``n_components``).
"""

from transfer.features.handcrafted.gabor import (
    GaborFeatures,
    gabor_bank,
    gabor_features,
    gabor_magnitudes,
)
from transfer.features.handcrafted.hd_lbp import (
    HDLBPFeatures,
    hd_lbp_histograms,
    hd_lbp_landmarks,
)
from transfer.features.handcrafted.hog import HOGFeatures, hog_features
from transfer.features.handcrafted.lbp import (
    LBPFeatures,
    lbp_codes,
    lbp_histograms,
    lbp_n_bins,
    multiscale_lbp_histograms,
)
from transfer.features.handcrafted.pixels import (
    PixelFeatures,
    as_grey_batch,
    grid_mean,
    pixel_features,
)

__all__ = [
    "GaborFeatures",
    "HDLBPFeatures",
    "HOGFeatures",
    "LBPFeatures",
    "PixelFeatures",
    "as_grey_batch",
    "gabor_bank",
    "gabor_features",
    "gabor_magnitudes",
    "grid_mean",
    "hd_lbp_histograms",
    "hd_lbp_landmarks",
    "hog_features",
    "lbp_codes",
    "lbp_histograms",
    "lbp_n_bins",
    "multiscale_lbp_histograms",
    "pixel_features",
]
