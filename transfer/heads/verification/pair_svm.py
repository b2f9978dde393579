"""A linear SVM on symmetric features of the pair, learned from pairs only."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import clone
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from transfer._registry import register_head
from transfer._validation import Interval, Options
from transfer.heads.linear import LinearFit
from transfer.heads.verification.base import PairVerifier

__all__ = ["PairSVM"]


@register_head("pair_svm")
class PairSVM(PairVerifier):
    """Linear SVM on symmetric pair features ``[|x1 - x2|, x1 * x2]``.

    The pair is described by its element-wise absolute difference and
    product, both symmetric in the two images, and a linear SVM learns which
    of those agree for the same person. The threshold on the SVM margin is
    then refitted for training accuracy, like every verifier here.

    The SVM is LIBLINEAR's L2-regularised squared-hinge ``LinearSVC`` (the
    same objective, penalised intercept included), fitted through
    :class:`~transfer.heads.linear.LinearFit`. With fewer training pairs than
    pair features the pairs are separable and LIBLINEAR's dual coordinate
    descent slows down (~1,800 passes on View 2's 5,400 pairs of LBP-width
    features); there the SVM is solved exactly in the span of the pairs (their
    Gram matrix) by Chapelle's Newton method [3]_, each step solving the
    quadratic problem of its margin violators outright (~15 steps, 5x faster
    there). With more pairs than pair features LIBLINEAR converges in tens of
    passes and the Newton steps would each solve a ``(2d+1)``-wide system:
    LIBLINEAR runs on the features, as before.

    Parameters
    ----------
    C : float, default=1.0
        Inverse regularisation strength.
    standardize : bool, default=True
        Standardise the pair features (fitted on the training pairs).
    max_iter : int, default=5000
        Cap on LIBLINEAR's passes or on the Newton steps.
    formulation : {"auto", "gram", "primal", "features"}, default="auto"
        How :class:`~transfer.heads.linear.LinearFit` solves the SVM: "gram"
        (Newton steps on the Gram matrix of the pairs), "primal" (Newton
        steps on the features), "features" (LIBLINEAR); "auto" takes "gram"
        when pairs are fewer than pair features and "features" otherwise.

    Attributes
    ----------
    model_ : LinearFit
        The fitted (scaler and) SVM; ``model_.formulation_`` says which form
        was solved.
    n_iter_ : int
        LIBLINEAR's passes or the Newton steps taken.
    threshold_ : float
    classes_ : ndarray of shape (2,)

    References
    ----------
    .. [1] Sun, Wang, Tang. "Deep learning face representation by joint
       identification-verification." NIPS 2014 (pair features for verification).
    .. [2] Fan, Chang, Hsieh, Wang, Lin. "LIBLINEAR: A library for large
       linear classification." JMLR 9, 2008.
    .. [3] Chapelle. "Training a support vector machine in the primal."
       Neural Computation 19(5), 2007.
    """

    _parameter_constraints = {
        "C": [Interval(numbers.Real, 0, None, closed="neither")],
        "standardize": [Options((True, False))],
        "max_iter": [Interval(numbers.Integral, 1, None)],
        "formulation": [Options(("auto", "gram", "primal", "features"))],
    }
    _learns_from_images = False

    def __init__(
        self,
        C: float = 1.0,
        standardize: bool = True,
        max_iter: int = 5000,
        formulation: str = "auto",
    ) -> None:
        self.C = C
        self.standardize = standardize
        self.max_iter = max_iter
        self.formulation = formulation

    @staticmethod
    def _features(X1: np.ndarray, X2: np.ndarray) -> np.ndarray:
        return np.hstack([np.abs(X1 - X2), X1 * X2])

    def crossfit_copy(self) -> PairSVM:
        """An unfitted copy for the inner fits of a cross-fitted threshold, warm.

        The copy fits from scratch (its own scaler, Gram matrix and SVM),
        except that Newton's method starts from the exact minimiser on the
        pairs this fitted SVM puts inside the margin, rather than from all
        pairs: on 4/5 of the training pairs the optimum's margin violators
        are nearly the same (96 % agree on View 2-shaped LBP pairs), so a
        few steps reach the same optimum. LIBLINEAR (``formulation=
        "features"``) starts cold.

        Returns
        -------
        PairSVM
        """
        check_is_fitted(self, "model_")
        copy = clone(self)
        copy._warm = self.model_
        return copy

    def _fit_pairs(self, X1, X2, same):
        F = self._features(X1, X2)
        form = self.formulation
        if form == "auto":
            form = "gram" if F.shape[0] < F.shape[1] else "features"
        svm = LinearSVC(C=self.C, max_iter=self.max_iter)
        model = LinearFit(svm, C=self.C, standardize=self.standardize, formulation=form)
        warm = self.__dict__.pop("_warm", None)  # set by crossfit_copy
        start = None
        if warm is not None and form != "features":
            start = (np.where(same, 1.0, -1.0) * warm.decision_function(F) < 1.0)[:, None]
        self.model_ = model.fit(F, same, start=start)
        self.n_iter_ = int(np.max(self.model_.n_iter_))

    def _score(self, X1, X2):
        return self.model_.decision_function(self._features(X1, X2))
