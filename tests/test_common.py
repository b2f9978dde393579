"""Conformance: every registered extractor and head is a scikit-learn estimator.

Heads run scikit-learn's full estimator checks. Extractors take images, not
arbitrary 2-D tables, so the checks that feed them random tables of any width
are expected to fail; they are listed once below with that reason, and every
extractor is instead checked on images by the tests that follow.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from transfer._tags import component_tags
from transfer.heads.verification import PairVerifier
from transfer.registry import EXTRACTORS, HEADS, load_components

load_components()

# pair verifiers take pairs, not rows: their checks (with the odd-width ones
# rerun on even widths) are in test_verification.py
HEAD_INSTANCES = [
    h for h in (HEADS.create(name) for name in HEADS.names()) if not isinstance(h, PairVerifier)
]


@parametrize_with_checks(HEAD_INSTANCES)
def test_heads_pass_scikit_learn_checks(estimator, check):
    check(estimator)


def _extractor(name):
    # small images: 2-D inputs are read as 16x16 grey images
    est = EXTRACTORS.create(name)
    return est.set_params(image_shape=(16, 16)) if "image_shape" in est.get_params() else est


# cnn_finetuned fine-tunes a network on every fit and needs labels (test_finetune.py);
# trained needs a network trained first (test_train.py); fusion needs its parts
# (test_fusion.py runs check_extractor_contract on a fusion of two extractors)
FITTED_ELSEWHERE = {"cnn_finetuned", "trained", "fusion"}
EXTRACTOR_NAMES = [n for n in EXTRACTORS.names() if n not in FITTED_ELSEWHERE]


def _images(n=6, shape=(32, 32), seed=0):
    return np.random.default_rng(seed).uniform(0, 255, size=(n, *shape)).astype(np.float32)


def _needs_weights(name, request):
    if name == "cnn":
        request.getfixturevalue("cnn_weights_dir")
    elif name == "facenet":
        request.getfixturevalue("weights_home")("facenet_inception_resnet_v1")


def _contract_params():
    """Every extractor; the learned ones other than "cnn" (each a network of
    its own, with its own test module) run with the slow tests: building
    FaceNet or dlib's ResNet costs more than the whole handcrafted family."""
    params = []
    for name in EXTRACTOR_NAMES:
        learned = component_tags(EXTRACTORS.create(name)).get("kind") == "learned"
        marks = [pytest.mark.slow] if learned and name != "cnn" else []
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.mark.parametrize("name", _contract_params())
def test_extractor_contract(name, request):
    _needs_weights(name, request)
    check_extractor_contract(EXTRACTORS.create(name))


def _params(est):
    # repr: parameters holding estimators (a fusion's parts) compare by value
    return {k: repr(v) for k, v in est.get_params().items()}


def check_extractor_contract(est):
    """The behaviour every extractor owes scikit-learn and the runner."""
    params = _params(est)
    # __init__ stores parameters unchanged, and clone round-trips them
    assert _params(clone(est)) == params
    X = _images()
    F = est.fit(X).transform(X)
    assert F.dtype == np.float32 and F.ndim == 2 and len(F) == len(X)
    assert np.all(np.isfinite(F))
    # batches are independent: one image alone gives its row
    np.testing.assert_allclose(est.transform(X[2:3])[0], F[2], rtol=1e-5, atol=1e-6)
    # deterministic, picklable, and names for every output column
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).transform(X), F)
    assert len(est.get_feature_names_out()) == F.shape[1]
    assert est.fit(X) is est
    assert _params(est) == params  # fit does not touch parameters
    # sample order does not matter, to float32 round-off (BLAS blocks products by
    # batch shape: 3e-6 on features of order 1 seen on an AVX2-only CPU)
    np.testing.assert_allclose(est.transform(X[::-1]), F[::-1], rtol=1e-5, atol=1e-5)
    # RGB input is accepted
    rgb = np.repeat(X[..., None], 3, axis=-1)
    assert len(clone(est).fit(rgb).transform(rgb)) == len(X)


@pytest.mark.parametrize("name", [n for n in EXTRACTORS.names() if n != "fusion"])
def test_extractor_cache_key_covers_parameters(name):
    # (fusion has no bool or int parameter to flip: test_fusion.py covers its key)
    est = EXTRACTORS.create(name)
    key = est.cache_key()
    assert key == clone(est).cache_key()
    changed = False
    for param, value in est.get_params().items():
        if isinstance(value, bool):
            other = clone(est).set_params(**{param: not value})
        elif isinstance(value, int) and value > 1:
            other = clone(est).set_params(**{param: value + 1})
        else:
            continue
        assert other.cache_key() != key, param
        changed = True
    assert changed or not est.get_params()


KINDS = ("learned", "handcrafted")
# the built-in extractors whose kind the report's learned-vs-handcrafted split relies on
EXPECTED_KIND = {
    **dict.fromkeys(("pixels", "lbp", "hog", "gabor", "hd_lbp"), "handcrafted"),
    **dict.fromkeys(("cnn", "facenet", "dlib_resnet", "cnn_finetuned"), "learned"),
}


@pytest.mark.parametrize("name", EXTRACTORS.names())
def test_extractor_declares_its_kind(name):
    tags = component_tags(EXTRACTORS.create(name))
    assert tags.get("kind") in KINDS, f"{name}: kind={tags.get('kind')!r}"
    if name in EXPECTED_KIND:
        assert tags["kind"] == EXPECTED_KIND[name], name


def test_expected_kinds_name_registered_extractors():
    # a renamed extractor must not drop out of the check above silently
    assert set(EXPECTED_KIND) <= set(EXTRACTORS.names())


@pytest.mark.parametrize("name", _contract_params())
def test_extractor_rejects_bad_input(name, request):
    _needs_weights(name, request)
    est = EXTRACTORS.create(name)
    with pytest.raises(ValueError, match="image"):
        est.fit(np.zeros((3, 5)))  # a 2-D table without image_shape
    with pytest.raises(ValueError, match="NaN"):
        bad = _images()
        bad[0, 0, 0] = np.nan
        est.fit(bad).transform(bad)
    if est.__sklearn_tags__().requires_fit:
        with pytest.raises(NotFittedError):
            clone(est).transform(_images())


# Reason for every entry: these checks feed random 2-D tables of a few
# columns (3 to 10 wide, sparse, complex, object dtype); an image extractor
# reads rows as images of its ``image_shape`` (16 x 16 here) and rightly
# refuses rows of any other width. What they check (fit returns self,
# pickling, determinism, sample-order and subset invariance, NaN rejection,
# no parameter mutation) is checked on real image batches by the tests above.
# The API checks (clone, get/set_params, nothing set in __init__, repr, tags)
# run and must pass.
_WIDTH = "feeds 2-D tables of other widths than image_shape; checked on images above"
EXPECTED_EXTRACTOR_FAILURES = {
    name: _WIDTH
    for name in (
        "check_complex_data",
        "check_dict_unchanged",
        "check_dont_overwrite_parameters",
        "check_dtype_object",
        "check_estimator_sparse_array",
        "check_estimator_sparse_matrix",
        "check_estimator_sparse_tag",
        "check_estimators_dtypes",
        "check_estimators_empty_data_messages",
        "check_estimators_fit_returns_self",
        "check_estimators_nan_inf",
        "check_estimators_overwrite_params",
        "check_estimators_pickle",
        "check_f_contiguous_array_estimator",
        "check_fit2d_1feature",
        "check_fit2d_1sample",
        "check_fit2d_predict1d",
        "check_fit_check_is_fitted",
        "check_fit_idempotent",
        "check_fit_score_takes_y",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_n_features_in",
        "check_n_features_in_after_fitting",
        "check_pipeline_consistency",
        "check_positive_only_tag_during_fit",
        "check_readonly_memmap_input",
        "check_transformer_data_not_an_array",
        "check_transformer_general",
        "check_transformer_preserve_dtypes",
        "check_transformers_unfitted_stateless",
    )
}


@parametrize_with_checks(
    [_extractor(n) for n in EXTRACTOR_NAMES],
    expected_failed_checks=lambda est: EXPECTED_EXTRACTOR_FAILURES,
)
def test_extractors_scikit_learn_checks(estimator, check):
    check(estimator)
