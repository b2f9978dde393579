"""Verifiers that compare two feature vectors by a fixed similarity.

Cosine, Euclidean and Hamming (binary-code) similarity; the only things
learned are a per-feature preprocessing or binarisation fitted on the
training images, and the decision threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transfer._registry import register_head
from transfer._validation import Options
from transfer.heads.verification.base import PairVerifier, binarization_thresholds

__all__ = ["CosineVerifier", "EuclideanVerifier", "HammingVerifier"]


class _ImagePreprocessing:
    """Centring / standardisation fitted on the training images."""

    def _fit_preprocessing(self, X: np.ndarray) -> None:
        mode = self.preprocessing
        self.mean_ = X.mean(axis=0) if mode != "none" else np.zeros(X.shape[1])
        if mode == "standardize":
            std = X.std(axis=0)
            self.scale_ = np.where(std > 0, std, 1.0)
        else:
            self.scale_ = np.ones(X.shape[1])

    def _prep(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean_) / self.scale_


_PREPROCESSING = [Options(("none", "center", "standardize"))]


@register_head("cosine_verifier")
class CosineVerifier(_ImagePreprocessing, PairVerifier):
    """Cosine similarity of the two feature vectors, with a fitted threshold.

    Parameters
    ----------
    preprocessing : {"none", "center", "standardize"}, default="none"
        Transform applied to every image before the cosine, fitted on the
        training images: nothing, subtract the mean ("center"; often helps
        non-negative features such as ReLU activations, which otherwise all
        lie in one orthant), or subtract the mean and divide by the standard
        deviation.

    Attributes
    ----------
    mean_, scale_ : ndarray of shape (n_features,)
        The fitted preprocessing.
    threshold_ : float
        Cosine threshold maximising training accuracy.
    classes_ : ndarray of shape (2,)
        Pair labels; ``classes_[1]`` means same.

    References
    ----------
    .. [1] Nguyen, Bai. "Cosine similarity metric learning for face
       verification." ACCV 2010.
    """

    _parameter_constraints = {"preprocessing": _PREPROCESSING}

    def __init__(self, preprocessing: str = "none") -> None:
        self.preprocessing = preprocessing

    def _fit_images(self, X, identities):
        self._fit_preprocessing(X)

    def _score(self, X1, X2):
        Z1, Z2 = self._prep(X1), self._prep(X2)
        n1 = np.maximum(np.linalg.norm(Z1, axis=1), 1e-12)
        n2 = np.maximum(np.linalg.norm(Z2, axis=1), 1e-12)
        return np.einsum("ij,ij->i", Z1, Z2) / (n1 * n2)


@register_head("euclidean_verifier")
class EuclideanVerifier(_ImagePreprocessing, PairVerifier):
    """Negative Euclidean distance of the two feature vectors, with a fitted threshold.

    Parameters
    ----------
    preprocessing : {"none", "center", "standardize"}, default="none"
        Transform applied to every image first, fitted on the training
        images (centring does not change distances; standardising does).

    Attributes
    ----------
    mean_, scale_ : ndarray of shape (n_features,)
    threshold_ : float
    classes_ : ndarray of shape (2,)

    References
    ----------
    .. [1] Schroff, Kalenichenko, Philbin. "FaceNet: a unified embedding for
       face recognition and clustering." CVPR 2015.
    """

    _parameter_constraints = {"preprocessing": _PREPROCESSING}

    def __init__(self, preprocessing: str = "none") -> None:
        self.preprocessing = preprocessing

    def _fit_images(self, X, identities):
        self._fit_preprocessing(X)

    def _score(self, X1, X2):
        return -np.linalg.norm(self._prep(X1) - self._prep(X2), axis=1)


@register_head("hamming_verifier")
class HammingVerifier(PairVerifier):
    """Binarised features compared by the fraction of agreeing bits.

    Each feature becomes one bit, ``x > t`` with per-feature thresholds
    fitted on the training images; the score is ``1 - hamming / n_features``,
    the fraction of bits on which the two codes agree (a monotone transform
    of minus the Hamming distance). DeepID2+ [1]_ showed that binarising
    face-identity features this way loses little verification accuracy.

    Parameters
    ----------
    threshold : {"zero", "median"}, default="zero"
        See :func:`binarization_thresholds`.

    Attributes
    ----------
    thresholds_ : ndarray of shape (n_features,)
        Per-feature binarisation thresholds.
    threshold_ : float
        Decision threshold on the agreement fraction.
    classes_ : ndarray of shape (2,)

    References
    ----------
    .. [1] Sun, Wang, Tang. "Deeply learned face representations are sparse,
       selective, and robust." CVPR 2015.
    """

    _parameter_constraints = {"threshold": [Options(("zero", "median"))]}

    def __init__(self, threshold: str = "zero") -> None:
        self.threshold = threshold

    def __transfer_tags__(self) -> dict[str, Any]:
        """Tags (see :mod:`transfer._tags`): a pair head on binary codes."""
        tags = super().__transfer_tags__()
        tags.update(binary_codes=True, binary_code_column="Hamming (binary)")
        return tags

    def _fit_images(self, X, identities):
        self.thresholds_ = binarization_thresholds(X, self.threshold)

    def _score(self, X1, X2):
        b1 = X1 > self.thresholds_
        b2 = X2 > self.thresholds_
        return (b1 == b2).mean(axis=1)
