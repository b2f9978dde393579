"""Base of the binary / multi-label heads: one decision per label column.

A multi-label head fits a 0/1 label matrix (one column per binary label,
such as CelebA's 40 attributes) or a binary 1-D ``y``, and predicts the same
shape. :class:`MultilabelHead` holds what such heads share: the validation of
``y``, the tags, and ``decision_function`` / ``predict`` around the
subclass's ``_decision``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from transfer._validation import validate_params

__all__ = ["MultilabelHead", "binary_or_multilabel_targets"]


def binary_or_multilabel_targets(name: str, y: Any) -> tuple[np.ndarray, Any]:
    """Labels of a binary / multi-label head as an (n_samples, n_outputs) 0/1 matrix.

    Parameters
    ----------
    name : str
        The head's class name, for messages.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Two classes (the larger is positive), or a 0/1 matrix with one
        column per binary label.

    Returns
    -------
    Y : ndarray of shape (n_samples, n_outputs), int64
    classes : ndarray of shape (2,), or a list of ``[0, 1]`` arrays for 2-D ``y``
        The head's ``classes_``.

    Raises
    ------
    ValueError
        For more than two classes, one class, or a 2-D ``y`` that is not 0/1.
    """
    y_arr = np.asarray(y) if not hasattr(y, "iloc") else y.to_numpy()
    if y_arr.ndim == 2 and y_arr.shape[1] > 1:
        kind = type_of_target(y_arr, input_name="y")
        if kind != "multilabel-indicator":
            raise ValueError(
                f"{name} is a binary / multi-label head: a 2-D y must be a 0/1 matrix "
                f"with one column per binary label; got a target of type {kind!r}."
            )
        return y_arr.astype(np.int64), [np.array([0, 1])] * y_arr.shape[1]
    y_arr = column_or_1d(y_arr, warn=True)
    check_classification_targets(y_arr)
    classes = np.unique(y_arr)
    if len(classes) > 2:
        raise ValueError(
            f"Only binary classification is supported: {name} is a binary / multi-label "
            f"head, and y has {len(classes)} classes. "
            "Give 2 classes, or a 2-D 0/1 matrix with one column per binary label "
            "(one-vs-rest, e.g. sklearn.preprocessing.label_binarize)."
        )
    if len(classes) < 2:
        raise ValueError(f"{name} needs 2 classes to fit; y has 1 class.")
    return (y_arr == classes[1]).astype(np.int64)[:, None], classes


class MultilabelHead(ClassifierMixin, BaseEstimator):
    """Base class: subclasses fit and implement ``_decision(X)`` (n_samples, n_outputs).

    ``fit`` starts with :meth:`_validated`.
    """

    #: dtypes accepted by ``validate_data``.
    _dtype: Any = np.float64

    def __transfer_tags__(self) -> dict[str, Any]:
        """Tags (see :mod:`transfer._tags`): single images, one or many binary labels."""
        return {"scores_pairs": False, "multilabel": True}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.classifier_tags.multi_label = True
        return tags

    def _validated(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Parameters, ``X`` and ``y`` checked at the start of ``fit``: ``(X, Y)``.

        ``Y`` is the labels as an (n_samples, n_outputs) 0/1 matrix; sets
        ``classes_`` and ``n_outputs_``.
        """
        validate_params(self)
        X, y = validate_data(self, X, y, dtype=self._dtype, multi_output=True)
        Y, self.classes_ = binary_or_multilabel_targets(type(self).__name__, y)
        self._multilabel = isinstance(self.classes_, list)
        self.n_outputs_ = Y.shape[1]
        return X, Y

    def _decision(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def decision_function(self, X: Any) -> np.ndarray:
        """Scores, positive meaning the label is present.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) for a 1-D ``y``, else (n_samples, n_outputs)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=self._dtype)
        decision = self._decision(X)
        return decision if self._multilabel else decision[:, 0]

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels: ``classes_`` for a 1-D ``y``, else a 0/1 matrix.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        positive = self.decision_function(X) > 0
        if self._multilabel:
            return positive.astype(np.int64)
        return self.classes_[positive.astype(int)]
