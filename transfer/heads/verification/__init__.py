"""Face-verification heads: score a pair of feature vectors, same person or not.

Every verifier here is a scikit-learn binary classifier over *pairs*:

- ``X`` holds pairs of feature vectors, either as an array of shape
  ``(n_pairs, 2, n_features)`` or, equivalently, as a 2-D array of shape
  ``(n_pairs, 2 * n_features)`` whose rows are the two vectors concatenated
  ``[x1 | x2]``. The 2-D form is what lets the verifiers pass scikit-learn's
  estimator checks and work with tabular tools; ``n_features_in_`` is always
  the 2-D width ``2 * n_features``.
- ``y`` holds the pair labels: bool ``same`` (True = same identity), or any
  two labels, in which case the larger one (``classes_[1]``) means "same",
  scikit-learn's binary convention.
- ``fit(X, y)`` learns the similarity model from the training pairs (the
  image-restricted setting), then the threshold that maximises accuracy on
  those same training pairs. ``decision_function`` returns the similarity
  minus that threshold, so "same" is ``decision_function > 0`` and
  ``predict``, ``score`` (accuracy), ``cross_val_score`` and ``GridSearchCV``
  behave as for any scikit-learn classifier; the threshold never sees the
  pairs it is applied to.
- ``fit_identities(X, y)`` learns the similarity model from images and their
  identity labels instead (the unrestricted setting; the natural way to train
  :class:`JointBayesian`), and ``fit_threshold(X_pairs, same)`` then fits only
  the threshold on training pairs. ``score_pairs(X1, X2)`` gives the raw
  similarity, without threshold, at any time after the model is fitted.

When the model is learned from pairs, the images are the distinct rows
among the training pairs, and identities are the connected components of the
graph whose edges are the "same" pairs: an image that appears only in
"different" pairs is a one-image identity. This is exact when the pairs
mention every identity's images, and otherwise an approximation (the same
person may count as several identities), the usual one in the
image-restricted protocol.

The heads live in submodules: :mod:`~transfer.heads.verification.base`
(:class:`PairVerifier`, thresholds, binarisation),
:mod:`~transfer.heads.verification.distance` (cosine, Euclidean, Hamming),
:mod:`~transfer.heads.verification.joint_bayesian` and
:mod:`~transfer.heads.verification.pair_svm`; every public name is
re-exported here.
"""

from transfer.heads.verification.base import (
    PairVerifier,
    best_threshold,
    binarization_thresholds,
    binarize,
    pairs_to_identities,
)
from transfer.heads.verification.distance import (
    CosineVerifier,
    EuclideanVerifier,
    HammingVerifier,
)
from transfer.heads.verification.joint_bayesian import JointBayesian, joint_bayesian_em
from transfer.heads.verification.pair_svm import PairSVM

__all__ = [
    "CosineVerifier",
    "EuclideanVerifier",
    "HammingVerifier",
    "JointBayesian",
    "PairSVM",
    "PairVerifier",
    "best_threshold",
    "binarization_thresholds",
    "binarize",
    "joint_bayesian_em",
    "pairs_to_identities",
]
