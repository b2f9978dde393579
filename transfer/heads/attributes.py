"""Attribute heads: one linear classifier per binary label, all fitted together.

Face attribute prediction from a fixed representation (Kumar et al.'s
FaceTracer [1]_ on handcrafted features; Liu et al. [2]_ and Sun et al.'s
DeepID2+ [3]_ on learned identity features) fits one linear classifier per
attribute on the same features. :class:`AttributeLinearHead` does that for
every column of a 0/1 label matrix at once: the squared-hinge SVMs share one
Newton solver (:func:`transfer.heads.linear.squared_hinge_ovr`: the
Hessian-vector products of all 40 CelebA attributes in the same matrix
products; one Gram matrix when rows are fewer than columns, else the
features rotated once into the eigenbasis of their scatter, which
preconditions the conjugate-gradient steps), and ``C="auto"`` searches the C
grid on inner folds for all attributes in the same calls, reusing that
Gram matrix or rotation for every C.

References
----------
.. [1] Kumar, Berg, Belhumeur, Nayar. "Attribute and simile classifiers for
   face verification." ICCV 2009 (FaceTracer).
.. [2] Liu, Luo, Wang, Tang. "Deep learning face attributes in the wild."
   ICCV 2015.
.. [3] Sun, Wang, Tang. "Deeply learned face representations are sparse,
   selective, and robust." CVPR 2015.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.preprocessing import StandardScaler

from transfer._registry import register_head
from transfer._validation import Interval, Options
from transfer.heads.linear import rotate_features, squared_hinge_ovr
from transfer.heads.multilabel import MultilabelHead

__all__ = ["C_GRID", "AttributeLinearHead"]

#: The grid searched by ``C="auto"``, walked up from the smallest value: one
#: decade below the classifiers' grid, since a classifier per attribute on
#: standardised features is often best strongly regularised.
C_GRID = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)


@register_head("attribute_linear")
class AttributeLinearHead(MultilabelHead):
    """One L2-regularised linear classifier per binary label (multi-label, one-vs-rest).

    For a 0/1 label matrix (one column per attribute, e.g. CelebA's 40) it
    fits, for every column, LIBLINEAR's squared-hinge SVM (``loss=
    "squared_hinge"``, the problem of :class:`sklearn.svm.LinearSVC`, every
    column in one solver call) or an L2 logistic regression (``loss=
    "logistic"``, one L-BFGS fit per column). A 1-D ``y`` with two classes is
    one column.

    Parameters
    ----------
    loss : {"squared_hinge", "logistic"}, default="squared_hinge"
        The classifier fitted per label.
    C : float or "auto", default="auto"
        Inverse regularisation strength; "auto" picks it from :data:`C_GRID`
        (1e-5 ... 1) by 3-fold cross-validation on the training rows only,
        walking the grid up from 1e-5 and stopping two values past the best.
    C_per_label : bool, default=False
        With ``C="auto"``: pick one C per label (each label's best inner
        accuracy) instead of the one C with the best mean accuracy over the
        labels.
    standardize : bool, default=True
        Standardise the features (zero mean, unit variance on the training
        rows) first.
    max_iter : int, default=1000
        Newton steps (squared hinge) or L-BFGS iterations (logistic).
    intercept_scaling : float, default=10.0
        The squared-hinge SVM carries its intercept as a constant feature of
        this value, so the intercept's penalty is ``1 / intercept_scaling**2``
        of the weights' (LIBLINEAR's convention; 1 in
        :class:`sklearn.svm.LinearSVC`). Most face attributes are
        unbalanced: with a penalised intercept, strong regularisation pulls
        every decision towards 50/50 and below the majority baseline.

    Attributes
    ----------
    C_ : ndarray of shape (n_outputs,)
        The C used for each label.
    search_accuracy_ : ndarray of shape (n_grid, n_outputs)
        With ``C="auto"``: the mean inner accuracy of each grid C and label
        (-inf for the values the search did not reach).
    coef_ : ndarray of shape (n_outputs, n_features)
    intercept_ : ndarray of shape (n_outputs,)
    classes_ : ndarray of shape (2,), or a list of ``[0, 1]`` arrays for 2-D ``y``
    n_outputs_ : int
    n_iter_ : int
        The most Newton steps (squared hinge) or L-BFGS iterations (logistic)
        of the final fit.

    References
    ----------
    .. [1] Kumar, Berg, Belhumeur, Nayar. "Attribute and simile classifiers
       for face verification." ICCV 2009.
    .. [2] Fan, Chang, Hsieh, Wang, Lin. "LIBLINEAR: A library for large
       linear classification." JMLR 9, 2008.
    .. [3] Chapelle. "Training a support vector machine in the primal."
       Neural Computation 19(5), 2007.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5))
    >>> Y = np.column_stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0]).astype(int)
    >>> head = AttributeLinearHead(C=1.0).fit(X, Y)
    >>> bool((head.predict(X) == Y).mean() > 0.95)
    True
    """

    _parameter_constraints = {
        "loss": [Options(("squared_hinge", "logistic"))],
        "C": [Interval(numbers.Real, 0, None, closed="neither"), Options(("auto",))],
        "C_per_label": [Options((True, False))],
        "standardize": [Options((True, False))],
        "max_iter": [Interval(numbers.Integral, 1, None)],
        "intercept_scaling": [Interval(numbers.Real, 0, None, closed="neither")],
    }

    _dtype = (np.float64, np.float32)

    def __init__(
        self,
        loss: str = "squared_hinge",
        C: float | str = "auto",
        C_per_label: bool = False,
        standardize: bool = True,
        max_iter: int = 1000,
        intercept_scaling: float = 10.0,
    ) -> None:
        self.loss = loss
        self.C = C
        self.C_per_label = C_per_label
        self.standardize = standardize
        self.max_iter = max_iter
        self.intercept_scaling = intercept_scaling

    # -- fitting --------------------------------------------------------------
    def fit(self, X: Any, y: Any) -> AttributeLinearHead:
        """Fit one linear classifier per label.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Two classes, or a 0/1 matrix with one column per binary label.

        Returns
        -------
        self
        """
        X, Y = self._validated(X, y)
        if self.C == "auto":
            self.C_ = self._search(X, Y)
        else:
            self.C_ = np.full(Y.shape[1], float(self.C))
        self.scaler_ = StandardScaler().fit(X) if self.standardize else None
        Xs = self._scaled(X, self.scaler_)
        self.coef_, self.intercept_, self.n_iter_ = self._fit_columns(Xs, Y, self.C_)
        return self

    @staticmethod
    def _scaled(X: np.ndarray, scaler: StandardScaler | None) -> np.ndarray:
        return np.asarray(scaler.transform(X) if scaler is not None else X, dtype=np.float64)

    def _prepared(self, Xs: np.ndarray) -> dict[str, Any]:
        """The solver's input for ``Xs``: its Gram matrix (rows < columns) or its rotation.

        Computed once per training set and shared by every C of the search.
        """
        if self.loss != "squared_hinge":
            return {}
        n, d = Xs.shape
        s = float(self.intercept_scaling)
        if n < d:
            return {"K": Xs @ Xs.T, "intercept_scaling": s}
        return {"rotated": rotate_features(Xs, s), "intercept_scaling": s}

    def _fit_columns(
        self, Xs: np.ndarray, Y: np.ndarray, Cs: np.ndarray, data: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """(coef, intercept, n_iter) of every column of ``Y``, column ``j`` with ``C = Cs[j]``."""
        d = Xs.shape[1]
        coef = np.zeros((Y.shape[1], d))
        intercept = np.zeros(Y.shape[1])
        n_iter = 0
        data = self._prepared(Xs) if data is None else data
        for C in np.unique(Cs):  # one solver call per distinct C
            cols = np.flatnonzero(Cs == C)
            if self.loss == "logistic":
                for j in cols:
                    model = LogisticRegression(C=float(C), max_iter=self.max_iter)
                    model.fit(Xs, Y[:, j])
                    coef[j], intercept[j] = model.coef_[0], model.intercept_[0]
                    n_iter = max(n_iter, int(np.max(model.n_iter_)))
                continue
            signs = 2.0 * Y[:, cols] - 1.0
            s = data["intercept_scaling"]
            B, steps, converged = squared_hinge_ovr(signs, float(C), max_iter=self.max_iter, **data)
            n_iter = max(n_iter, steps)
            if not converged:
                warnings.warn(
                    f"{type(self).__name__}: the squared-hinge SVMs (C={C}) did not converge "
                    f"in max_iter={self.max_iter} Newton steps",
                    ConvergenceWarning,
                    stacklevel=3,
                )
            if "K" in data:
                coef[cols], intercept[cols] = (Xs.T @ B).T, s**2 * B.sum(axis=0)
            else:
                coef[cols], intercept[cols] = B[:-1].T, s * B[-1]
        return coef, intercept, n_iter

    def _search(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """The C of every label from 3-fold inner cross-validation on the training rows.

        The grid is walked from the smallest C (the cheapest, best
        conditioned problems) up; it stops once the two C values after the
        best so far score worse (for every label, with ``C_per_label``),
        since the inner accuracy rarely recovers as C grows further while
        each larger C costs more. Ties go to the smaller C.
        """
        grid = np.asarray(C_GRID, dtype=np.float64)
        accuracy = np.full((len(grid), Y.shape[1]), -np.inf)
        folds = []
        for tr, va in KFold(n_splits=3, shuffle=True, random_state=0).split(X):
            scaler = StandardScaler().fit(X[tr]) if self.standardize else None
            Xtr, Xva = self._scaled(X[tr], scaler), self._scaled(X[va], scaler)
            folds.append((tr, va, Xtr, Xva, self._prepared(Xtr)))
        for i, C in enumerate(grid):
            accuracy[i] = 0.0
            for tr, va, Xtr, Xva, data in folds:
                coef, intercept, _ = self._fit_columns(Xtr, Y[tr], np.full(Y.shape[1], C), data)
                pred = (Xva @ coef.T + intercept) > 0
                accuracy[i] += (pred == Y[va].astype(bool)).mean(axis=0)
            best = np.argmax(accuracy[: i + 1], axis=0)
            if not self.C_per_label:
                best = np.argmax(accuracy[: i + 1].mean(axis=1))
            if np.all(i - best >= 2):
                break
        self.search_accuracy_ = accuracy / len(folds)
        if self.C_per_label:  # argmax: the smallest C among equals
            return grid[np.argmax(accuracy, axis=0)]
        return np.full(Y.shape[1], grid[int(np.argmax(accuracy.mean(axis=1)))])

    def _decision(self, X: np.ndarray) -> np.ndarray:
        return self._scaled(X, self.scaler_) @ self.coef_.T + self.intercept_
