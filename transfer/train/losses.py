"""Losses that learn an embedding: DeepID2's verification signal, FaceNet's triplets.

Written with ``keras.ops`` on a batch of embeddings ``E`` (one row per
image) and integer identity labels; distances are squared Euclidean between
L2-normalised rows, so margins do not depend on the embedding's scale
(0 for identical directions, 4 for opposite ones).

References
----------
.. [1] Sun, Chen, Wang, Tang. "Deep learning face representation by joint
   identification-verification." NeurIPS 2014 (DeepID2).
.. [2] Hadsell, Chopra, LeCun. "Dimensionality reduction by learning an
   invariant mapping." CVPR 2006 (the contrastive loss).
.. [3] Schroff, Kalenichenko, Philbin. "FaceNet: a unified embedding for
   face recognition and clustering." CVPR 2015 (triplets, semi-hard mining).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "contrastive_loss",
    "pairwise_sq_distances",
    "semi_hard_negatives",
    "triplet_semi_hard_loss",
]


def _ops() -> Any:
    from keras import ops

    return ops


def pairwise_sq_distances(E: Any) -> Any:
    """Squared Euclidean distances between the L2-normalised rows of ``E``, ``(n, n)``."""
    ops = _ops()
    E = ops.convert_to_tensor(E, dtype="float32")
    E = E / ops.maximum(ops.sqrt(ops.sum(E * E, axis=1, keepdims=True)), 1e-12)
    gram = ops.matmul(E, ops.transpose(E))
    norms = ops.diagonal(gram)
    D = ops.expand_dims(norms, 0) + ops.expand_dims(norms, 1) - 2.0 * gram
    return ops.maximum(D, 0.0)


def _masks(labels: Any) -> tuple[Any, Any]:
    """(same identity, different identity) boolean masks, the diagonal excluded."""
    ops = _ops()
    labels = ops.reshape(ops.convert_to_tensor(labels), (-1,))
    same = ops.equal(ops.expand_dims(labels, 0), ops.expand_dims(labels, 1))
    eye = ops.cast(ops.eye(ops.shape(labels)[0]), "bool")
    return ops.logical_and(same, ops.logical_not(eye)), ops.logical_not(same)


def contrastive_loss(E: Any, labels: Any, margin: float = 1.0) -> Any:
    """DeepID2's verification loss over every pair of the batch [1]_ [2]_.

    Same-identity pairs: ``d / 2``; different: ``max(0, m - sqrt(d))^2 / 2``
    (``d`` the squared distance); each kind averaged over its pairs, then
    summed, so that the many different pairs of a batch do not drown the
    few same ones. 0 for a batch without pairs of a kind.

    Parameters
    ----------
    E : tensor of shape (n, k)
    labels : tensor of shape (n,)
    margin : float, default=1.0
        ``m``, in normalised units (distances run from 0 to 2).

    Returns
    -------
    scalar tensor
    """
    ops = _ops()
    D = pairwise_sq_distances(E)
    same, diff = _masks(labels)
    same_f, diff_f = ops.cast(same, "float32"), ops.cast(diff, "float32")
    pull = ops.sum(0.5 * D * same_f) / ops.maximum(ops.sum(same_f), 1.0)
    gap = ops.maximum(margin - ops.sqrt(D + 1e-12), 0.0)
    push = ops.sum(0.5 * gap * gap * diff_f) / ops.maximum(ops.sum(diff_f), 1.0)
    return pull + push


def semi_hard_negatives(D: Any, labels: Any, margin: float = 0.2) -> tuple[Any, Any]:
    """For every anchor-positive pair, FaceNet's semi-hard negative [3]_.

    The negative ``n`` of pair ``(a, p)`` is the closest to ``a`` among
    those farther than ``p`` (``D[a, n] > D[a, p]``); when there is none,
    the farthest negative (the least hard one: a hard negative this early
    collapses training, as the paper warns).

    Parameters
    ----------
    D : tensor of shape (n, n)
        Squared distances.
    labels : tensor of shape (n,)
    margin : float, default=0.2
        Unused in the choice (kept for the signature of the loss).

    Returns
    -------
    negative_distance : tensor of shape (n, n)
        ``D[a, n]`` of the chosen negative for each ``(a, p)`` (rows anchors,
        columns positives); meaningful where ``positive_mask`` is true.
    positive_mask : tensor of bool of shape (n, n)
    """
    ops = _ops()
    D = ops.convert_to_tensor(D, dtype="float32")
    same, diff = _masks(labels)
    big = ops.max(D) + 1.0
    d_ap = ops.expand_dims(D, 2)  # (a, p, 1)
    d_an = ops.expand_dims(D, 1)  # (a, 1, n)
    negative = ops.expand_dims(diff, 1)  # (a, 1, n)
    outside = ops.logical_and(negative, ops.greater(d_an, d_ap))
    # closest negative beyond the positive; ``big`` where there is none
    semi = ops.min(ops.where(outside, d_an, big), axis=2)
    has_semi = ops.any(outside, axis=2)
    # otherwise the farthest negative
    farthest = ops.max(ops.where(negative, d_an, -1.0), axis=2)
    return ops.where(has_semi, semi, farthest), same


def triplet_semi_hard_loss(E: Any, labels: Any, margin: float = 0.2) -> Any:
    """FaceNet's triplet loss with online semi-hard mining [3]_.

    ``mean over (a, p) of max(0, D[a, p] - D[a, n] + margin)``, ``n`` from
    :func:`semi_hard_negatives`, over every anchor-positive pair of the
    batch (0 when the batch has none).

    Parameters
    ----------
    E : tensor of shape (n, k)
    labels : tensor of shape (n,)
    margin : float, default=0.2
        FaceNet's alpha, in squared normalised units.

    Returns
    -------
    scalar tensor
    """
    ops = _ops()
    D = pairwise_sq_distances(E)
    d_an, positive = semi_hard_negatives(D, labels, margin)
    pos_f = ops.cast(positive, "float32")
    losses = ops.maximum(D - d_an + margin, 0.0) * pos_f
    return ops.sum(losses) / ops.maximum(ops.sum(pos_f), 1.0)
