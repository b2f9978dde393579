"""Classification heads: thin scikit-learn estimators fitted on features.

Each head is a classifier with ``fit``/``predict``/``decision_function`` and
``class_scores`` (an ``(n_samples, n_classes)`` score, higher meaning more
likely), which identification protocols use to rank classes for CMC curves.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import LabelEncoder, StandardScaler
from sklearn.svm import SVC, LinearSVC
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from transfer._registry import register_head
from transfer._validation import NONE, Interval, Options, validate_params
from transfer.heads.discriminant import GramPCA, ShrunkLDA
from transfer.heads.linear import LinearFit


class BaseHead(ClassifierMixin, BaseEstimator):
    """Base class of classification heads.

    Subclasses implement ``_make_model()`` returning an unfitted scikit-learn
    estimator (or pipeline); this class handles validation, label encoding
    and the ``class_scores`` convention.
    """

    _parameter_constraints: dict = {}
    #: dtypes accepted by ``validate_data``: float32 stays float32 unless a
    #: head's numerics need float64.
    _dtype: Any = (np.float64, np.float32)

    def __transfer_tags__(self) -> dict[str, Any]:
        """Tags (see :mod:`transfer._tags`): a classifier of single images, not pairs."""
        return {"scores_pairs": False}

    def fit(self, X: Any, y: Any) -> BaseHead:
        """Fit the head on features ``X`` of shape (n_samples, n_features) and labels ``y``."""
        validate_params(self)
        X, y = validate_data(self, X, y, dtype=self._dtype)
        check_classification_targets(y)
        self._encoder = LabelEncoder().fit(y)
        self.classes_ = self._encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes to fit, "
                f"got {len(self.classes_)} class"
            )
        y_index = self._encoder.transform(y)
        self._check_training(X, y_index)
        self.model_ = self._make_model(X, y_index)
        self.model_.fit(X, y_index)
        final = self.model_[-1] if isinstance(self.model_, Pipeline) else self.model_
        if getattr(self, "C", None) == "auto":
            self.C_ = float(final.C_)
        if hasattr(final, "n_iter_"):
            self.n_iter_ = final.n_iter_
        return self

    def _make_model(self, X: np.ndarray, y: np.ndarray) -> Any:  # pragma: no cover
        raise NotImplementedError

    def _check_training(self, X: np.ndarray, y: np.ndarray) -> None:
        """Raise a ValueError if the training set cannot fit this head (``y`` is encoded)."""

    def _check(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=self._dtype)

    def decision_function(self, X: Any) -> np.ndarray:
        """Scores of shape (n_samples,) for two classes, else (n_samples, n_classes)."""
        scores = self.class_scores(X)
        return scores[:, 1] - scores[:, 0] if scores.shape[1] == 2 else scores

    def class_scores(self, X: Any) -> np.ndarray:
        """Scores of shape (n_samples, n_classes); higher means more likely."""
        X = self._check(X)
        model = self.model_
        if hasattr(model, "decision_function"):
            s = np.asarray(model.decision_function(X), dtype=np.float64)
        else:
            s = np.asarray(model.predict_log_proba(X), dtype=np.float64)
        if s.ndim == 1:  # binary: scikit-learn's single margin, positive = classes_[1]
            s = np.column_stack([-s, s]) / 2.0
        return s

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class labels of shape (n_samples,)."""
        scores = self.class_scores(X)
        return self.classes_[np.argmax(scores, axis=1)]


#: The grid searched by ``C="auto"``.
C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def _scaled(standardize: bool, model: Any) -> Any:
    """``[StandardScaler] -> model``."""
    steps = [("scale", StandardScaler())] if standardize else []
    return Pipeline([*steps, ("model", model)])


class _LinearHead(BaseHead):
    """Base of the L2-regularised linear heads: solved by :class:`LinearFit`.

    With fewer training rows than feature columns the model is fitted in the
    span of the training rows through their Gram matrix (exactly the same
    optimum, a fraction of the cost); ``C="auto"`` searches :data:`C_GRID`
    by stratified inner 3-fold cross-validation on one Gram matrix.
    """

    _formulations = ("auto", "gram", "primal", "features")

    def _estimator(self) -> Any:  # pragma: no cover - subclasses define it
        raise NotImplementedError

    def _make_model(self, X, y):
        return LinearFit(
            self._estimator(),
            C=self.C,
            standardize=self.standardize,
            formulation=self.formulation,
            grid=C_GRID,
        )


@register_head("linear_svm")
class LinearSVMHead(_LinearHead):
    """Linear support vector machine (one-vs-rest, squared hinge loss, L2 penalty).

    The problem is LIBLINEAR's L2-loss SVM [1]_ (the intercept is a penalised
    constant feature, as in :class:`sklearn.svm.LinearSVC`). With fewer
    training rows than features it is solved in the span of the training
    rows (see :mod:`transfer.heads.linear`): up to 512 rows exactly, by
    Newton steps on the set of margin violators [2]_; beyond, by LIBLINEAR's
    dual coordinate descent on the rows' coordinates in that span (the same
    iterates as on the features, each update O(n_samples) instead of
    O(n_features)). ORL pixels, 200 x 10,304: 0.4 s instead of 4-28 s per
    fold, same predictions.

    Parameters
    ----------
    C : float or "auto", default=1.0
        Inverse regularisation strength; "auto" picks it from
        :data:`C_GRID` by stratified 3-fold cross-validation on the training
        data only (the chosen value is ``C_``).
    standardize : bool, default=False
        Standardise features (zero mean, unit variance on the training set)
        first. Off by default: on histogram features (LBP, HOG) it inflates
        rare bins for no gain; normalise raw pixels in the extractor instead
        (``normalize="zscore"``).
    max_iter : int, default=5000
        Iteration cap of the solver (LIBLINEAR's iterations, or Newton steps
        per class in the Gram formulation, which needs fewer than 20).
    formulation : {"auto", "gram", "features"}, default="auto"
        "gram" solves from the Gram matrix of the training rows; "features"
        hands the features to LIBLINEAR as they are (the head's only path
        in 0.1.0; its dual coordinate descent when rows are fewer than
        columns); "auto" takes "gram" for fewer rows than columns.

    References
    ----------
    .. [1] Fan, Chang, Hsieh, Wang, Lin. "LIBLINEAR: A library for large
       linear classification." JMLR 9, 2008.
    .. [2] Chapelle. "Training a support vector machine in the primal."
       Neural Computation 19(5), 2007.
    """

    _parameter_constraints = {
        "C": [Interval(numbers.Real, 0, None, closed="neither"), Options(("auto",))],
        "standardize": [Options((True, False))],
        "max_iter": [Interval(numbers.Integral, 1, None)],
        "formulation": [Options(_LinearHead._formulations)],
    }

    def __init__(
        self,
        C: float | str = 1.0,
        standardize: bool = False,
        max_iter: int = 5000,
        formulation: str = "auto",
    ) -> None:
        self.C = C
        self.standardize = standardize
        self.max_iter = max_iter
        self.formulation = formulation

    def _estimator(self) -> Any:
        # with formulation "gram" LinearFit solves this very problem from the
        # Gram matrix (squared_hinge_newton); "features" runs LIBLINEAR on X
        return LinearSVC(max_iter=self.max_iter)


@register_head("rbf_svm")
class RBFSVMHead(BaseHead):
    """Kernel SVM with a Gaussian (RBF) kernel, one-vs-rest scores.

    Parameters
    ----------
    C : float, default=10.0
        Inverse regularisation strength.
    gamma : {"scale", "auto"} or float, default="scale"
        Kernel width, as in :class:`sklearn.svm.SVC`.
    standardize : bool, default=True
        Standardise features first.

    References
    ----------
    .. [1] Cortes, Vapnik. "Support-vector networks." Machine Learning 20, 1995.
    """

    _parameter_constraints = {
        "C": [Interval(numbers.Real, 0, None, closed="neither")],
        "gamma": [Options(("scale", "auto")), Interval(numbers.Real, 0, None, closed="neither")],
        "standardize": [Options((True, False))],
    }

    def __init__(self, C: float = 10.0, gamma: str | float = "scale", standardize: bool = True):
        self.C = C
        self.gamma = gamma
        self.standardize = standardize

    def _make_model(self, X, y):
        svc = SVC(C=self.C, gamma=self.gamma, decision_function_shape="ovr")
        return _scaled(self.standardize, svc)


class _ScatterHead(BaseHead):
    """Base of the heads that estimate a within-class scatter (LDA, Fisherfaces).

    They compute in float64 whatever the input dtype: in float32, LAPACK's
    SVD on ill-conditioned features (near-constant, duplicated or
    differently scaled columns, such as aligned HOG) either fails ("SVD did
    not converge", "SLASCL parameter number 4 had an illegal value") or
    quietly returns directions that classify at chance.
    """

    _dtype = np.float64

    def _check_training(self, X: np.ndarray, y: np.ndarray) -> None:
        # the within-class scatter has n_samples - n_classes degrees of freedom
        n_classes = int(y.max()) + 1
        if len(y) <= n_classes:
            raise ValueError(
                f"{type(self).__name__} estimates a within-class scatter, which needs at "
                "least one class with 2 or more training images; each of the "
                f"{n_classes} classes in y has a single image. Use a head that works from "
                "one image per class, such as 'knn' or 'linear_svm'."
            )


@register_head("lda")
class LDAHead(_ScatterHead):
    """Linear discriminant analysis.

    Parameters
    ----------
    solver : {"svd", "lsqr", "eigen"}, default="lsqr"
        As in :class:`sklearn.discriminant_analysis.LinearDiscriminantAnalysis`.
    shrinkage : "auto", float in [0, 1] or None, default="auto"
        Ledoit-Wolf shrinkage of the within-class covariance ("auto"), which
        keeps LDA usable when features outnumber images. Not used by "svd".
        "eigen" costs O(n_features^2) memory, and so does "lsqr" with
        ``shrinkage=None``; "lsqr" with shrinkage solves in the span of the
        training rows when they are fewer than the features.

    References
    ----------
    .. [1] Fisher. "The use of multiple measurements in taxonomic problems."
       Annals of Eugenics 7, 1936.
    .. [2] Ledoit, Wolf. "A well-conditioned estimator for large-dimensional
       covariance matrices." J. Multivariate Analysis 88, 2004.
    """

    _parameter_constraints = {
        "solver": [Options(("svd", "lsqr", "eigen"))],
        "shrinkage": [NONE, Options(("auto",)), Interval(numbers.Real, 0, 1)],
    }

    def __init__(self, solver: str = "lsqr", shrinkage: str | float | None = "auto") -> None:
        self.solver = solver
        self.shrinkage = shrinkage

    def _make_model(self, X, y):
        if self.solver == "lsqr" and self.shrinkage is not None:
            # scikit-learn's model in closed form (transfer.heads.discriminant):
            # an n x n solve when rows are fewer than columns
            return ShrunkLDA(self.shrinkage)
        shrinkage = None if self.solver == "svd" else self.shrinkage
        return LinearDiscriminantAnalysis(solver=self.solver, shrinkage=shrinkage)


@register_head("fisherfaces")
class FisherfacesHead(_ScatterHead):
    """PCA followed by LDA ("Fisherfaces").

    PCA first reduces the features to at most ``n_samples - n_classes``
    dimensions so that the within-class scatter is non-singular [1]_, then LDA
    finds at most ``n_classes - 1`` discriminant directions and classifies.
    With few images per class the within-class scatter in that space is
    still badly conditioned and plain LDA then latches onto noise directions
    (rank-1 on ORL with pixels falls to about 0.2); Ledoit-Wolf shrinkage of
    that scatter [2]_ (the default) removes the problem without a tuned
    parameter. ``shrinkage=None`` gives the classical method.

    Parameters
    ----------
    n_components : int, float in (0, 1) or None, default=None
        PCA dimensions: None gives ``n_samples - n_classes`` (as in [1]_), an
        int caps it, a float keeps that fraction of the variance.
    shrinkage : "auto", float in [0, 1] or None, default="auto"
        Shrinkage of the within-class covariance in the PCA space.

    References
    ----------
    .. [1] Belhumeur, Hespanha, Kriegman. "Eigenfaces vs. Fisherfaces:
       recognition using class specific linear projection." IEEE TPAMI 19(7), 1997.
    .. [2] Ledoit, Wolf. "A well-conditioned estimator for large-dimensional
       covariance matrices." J. Multivariate Analysis 88, 2004.
    """

    _parameter_constraints = {
        "n_components": [
            NONE,
            Interval(numbers.Integral, 1, None),
            Interval(numbers.Real, 0, 1, closed="neither"),
        ],
        "shrinkage": [NONE, Options(("auto",)), Interval(numbers.Real, 0, 1)],
    }

    def __init__(
        self, n_components: int | float | None = None, shrinkage: str | float | None = "auto"
    ) -> None:
        self.n_components = n_components
        self.shrinkage = shrinkage

    def _make_model(self, X, y):
        n, d = X.shape
        cap = max(1, min(n - len(np.unique(y)), d, n - 1))
        if self.n_components is None:
            k = cap
        elif isinstance(self.n_components, numbers.Integral):
            k = min(int(self.n_components), cap)
        else:
            k = float(self.n_components)
        # the PCA by one eigendecomposition (of the n x n Gram matrix when rows
        # are fewer than columns) and the shrinkage LDA in closed form: the
        # same model as scikit-learn's PCA + LinearDiscriminantAnalysis(solver=
        # "lsqr"), 5-20x faster on LFW-sized folds (transfer.heads.discriminant)
        lda = LinearDiscriminantAnalysis() if self.shrinkage is None else ShrunkLDA(self.shrinkage)
        return Pipeline([("pca", GramPCA(n_components=k)), ("lda", lda)])


@register_head("logistic")
class LogisticHead(_LinearHead):
    """Multinomial logistic regression (L2 penalty, L-BFGS).

    With fewer training rows than features it is fitted in the span of the
    training rows (see :mod:`transfer.heads.linear`): the same optimum, each
    L-BFGS step costing ``n x n`` instead of ``n x d``.

    Parameters
    ----------
    C : float or "auto", default=1.0
        Inverse regularisation strength; "auto" picks it from
        :data:`C_GRID` by stratified 3-fold cross-validation on the training
        data only (the chosen value is ``C_``).
    standardize : bool, default=True
        Standardise features first.
    max_iter : int, default=1000
        Iteration cap of the L-BFGS solver.
    formulation : {"auto", "gram", "features"}, default="auto"
        As in :class:`LinearSVMHead`.

    References
    ----------
    .. [1] Cox. "The regression analysis of binary sequences." JRSS B 20, 1958.
    """

    _parameter_constraints = {
        "C": [Interval(numbers.Real, 0, None, closed="neither"), Options(("auto",))],
        "standardize": [Options((True, False))],
        "max_iter": [Interval(numbers.Integral, 1, None)],
        "formulation": [Options(_LinearHead._formulations)],
    }

    def __init__(
        self,
        C: float | str = 1.0,
        standardize: bool = True,
        max_iter: int = 1000,
        formulation: str = "auto",
    ) -> None:
        self.C = C
        self.standardize = standardize
        self.max_iter = max_iter
        self.formulation = formulation

    def _estimator(self) -> Any:
        return LogisticRegression(max_iter=self.max_iter)


def pairwise_distances(A: np.ndarray, B: np.ndarray, metric: str) -> np.ndarray:
    """Distances between the rows of ``A`` and ``B``, shape (len(A), len(B)).

    ``metric`` is "euclidean", "cosine" (1 - cosine similarity), "manhattan"
    or "chi2" (the chi-square histogram distance, sum (a-b)^2 / (a+b), used
    for LBP histograms by Ahonen et al., TPAMI 2006).
    """
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    if metric == "euclidean":
        sq = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
        return np.sqrt(np.maximum(sq, 0.0))
    if metric == "cosine":
        An = A / np.maximum(np.linalg.norm(A, axis=1, keepdims=True), 1e-12)
        Bn = B / np.maximum(np.linalg.norm(B, axis=1, keepdims=True), 1e-12)
        return 1.0 - An @ Bn.T
    out = np.empty((len(A), len(B)))
    step = max(1, int(2e7 // max(1, B.size)))  # bound the (step, len(B), d) temporary
    for s in range(0, len(A), step):
        diff = A[s : s + step, None, :] - B[None, :, :]
        if metric == "manhattan":
            out[s : s + step] = np.abs(diff).sum(-1)
        else:  # chi2
            total = A[s : s + step, None, :] + B[None, :, :]
            out[s : s + step] = (diff**2 / np.where(total > 0, total, 1.0)).sum(-1)
    return out


@register_head("knn")
class KNNHead(BaseHead):
    """k-nearest-neighbour classifier on a chosen distance.

    ``class_scores`` ranks the classes by their votes among the
    ``n_neighbors`` nearest training images, ties (and classes with no
    vote) by the distance to the nearest training image of the class: the
    score of class ``c`` is ``votes_c - d_c / (2 D)``, with ``d_c`` that
    distance and ``D`` the largest ``d_c`` of the row, so the vote count is
    ``ceil(score)`` and the tie-break never outweighs one vote. With
    ``n_neighbors=1`` the ranking is the nearest-neighbour ordering of the
    classes; ``predict``, rank-k identification and the CMC curve all follow
    this ranking.

    Parameters
    ----------
    n_neighbors : int, default=1
        Neighbours voting on the label (ties go to the nearer class); at most
        the number of training images.
    metric : {"euclidean", "cosine", "manhattan", "chi2"}, default="euclidean"
        Distance between feature vectors; "chi2" suits histograms (LBP).
    standardize : bool, default=False
        Standardise features first (not for "chi2", which needs histograms).

    References
    ----------
    .. [1] Cover, Hart. "Nearest neighbor pattern classification." IEEE
       Trans. Information Theory 13(1), 1967.
    """

    _parameter_constraints = {
        "n_neighbors": [Interval(numbers.Integral, 1, None)],
        "metric": [Options(("euclidean", "cosine", "manhattan", "chi2"))],
        "standardize": [Options((True, False))],
    }

    def __init__(
        self, n_neighbors: int = 1, metric: str = "euclidean", standardize: bool = False
    ) -> None:
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.standardize = standardize

    def fit(self, X: Any, y: Any) -> KNNHead:
        """Store the training features ``X`` of shape (n_samples, n_features) and labels ``y``."""
        validate_params(self)
        if self.standardize and self.metric == "chi2":
            raise ValueError("KNNHead: 'standardize' cannot be used with metric='chi2'")
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        if self.n_neighbors > len(X):
            raise ValueError(
                f"KNNHead: n_neighbors={self.n_neighbors} is larger than the training set "
                f"({len(X)} images); give n_neighbors at most {len(X)}"
            )
        self._encoder = LabelEncoder().fit(y)
        self.classes_ = self._encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"KNNHead needs at least 2 classes to fit, got {len(self.classes_)} class"
            )
        self.scaler_ = StandardScaler().fit(X) if self.standardize else None
        self.train_X_ = self.scaler_.transform(X) if self.scaler_ is not None else np.array(X)
        self.train_y_ = self._encoder.transform(y)
        return self

    def _distances(self, X: Any) -> np.ndarray:
        X = self._check(X)
        if self.scaler_ is not None:
            X = self.scaler_.transform(X)
        return pairwise_distances(X, self.train_X_, self.metric)

    def class_scores(self, X: Any) -> np.ndarray:
        """Scores of shape (n_samples, n_classes): votes, ties broken by the nearest distance."""
        d = self._distances(X)
        n, n_classes = d.shape[0], len(self.classes_)
        # nearest training image of every class: one reduction over the
        # columns grouped by class rather than one masked copy per class
        order = np.argsort(self.train_y_, kind="stable")
        starts = np.flatnonzero(np.diff(self.train_y_[order], prepend=-1))
        nearest = np.minimum.reduceat(d[:, order], starts, axis=1)
        votes = np.zeros((n, n_classes))
        if self.n_neighbors == 1:
            votes[np.arange(n), np.argmin(nearest, axis=1)] = 1.0
        else:
            # stable: among equally distant training images the earlier one votes
            k_nearest = np.argsort(d, axis=1, kind="stable")[:, : self.n_neighbors]
            np.add.at(votes, (np.arange(n)[:, None], self.train_y_[k_nearest]), 1.0)
        largest = nearest.max(axis=1, keepdims=True)
        return votes - nearest / (2.0 * np.where(largest > 0, largest, 1.0))
