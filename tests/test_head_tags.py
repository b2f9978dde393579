"""Head tags: what a head is (pair scorer, binary codes), asked of the head."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from transfer._tags import component_tags
from transfer.heads import BaseHead, heads_with_tag
from transfer.heads.verification import (
    CosineVerifier,
    HammingVerifier,
    JointBayesian,
    PairSVM,
    PairVerifier,
)
from transfer.registry import HEADS, load_components

load_components()


def _pair_heads():
    return sorted(n for n in HEADS.names() if issubclass(HEADS.get(n), PairVerifier))


def test_pair_heads_are_the_pair_verifiers():
    pairs = heads_with_tag("scores_pairs")
    assert pairs == _pair_heads()
    assert {"joint_bayesian", "cosine_verifier", "pair_svm"} <= set(pairs)
    # every other head is not a pair scorer, and the classifiers say so themselves
    others = heads_with_tag("scores_pairs", False)
    assert sorted(others) == sorted(set(HEADS.names()) - set(pairs))
    assert "knn" in others
    assert all(
        component_tags(HEADS.create(n)) == {"scores_pairs": False}
        for n in others
        if issubclass(HEADS.get(n), BaseHead)
    )


@pytest.mark.parametrize("name", _pair_heads())
def test_learns_from_images_tag_is_what_fit_identities_does(name):
    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(4), 3)
    X = rng.normal(0, 3, size=(4, 4))[ids] + rng.normal(size=(12, 4))
    head = HEADS.create(name)
    if component_tags(head)["learns_from_images"]:
        assert head.fit_identities(X, ids) is head
        assert name in heads_with_tag("learns_from_images")
    else:
        with pytest.raises(TypeError, match="learns from pairs only"):
            head.fit_identities(X, ids)
        assert name in heads_with_tag("learns_from_images", False)


def test_learns_from_images_follows_the_class_attribute():
    # the protocols still read _learns_from_images: the tag must agree with it
    for name in _pair_heads():
        head = HEADS.create(name)
        assert component_tags(head)["learns_from_images"] is bool(head._learns_from_images)
    assert "pair_svm" not in heads_with_tag("learns_from_images")


def test_binary_code_tags():
    assert component_tags(HammingVerifier()) == {
        "scores_pairs": True,
        "learns_from_images": True,
        "binary_codes": True,
        "binary_code_column": "Hamming (binary)",
    }
    real = component_tags(JointBayesian())
    assert real["binary_codes"] is False
    assert real["binary_code_column"] == "Joint Bayesian (real)"
    for mode in ("zero", "median"):
        tags = component_tags(JointBayesian(binarize=mode))
        assert tags["binary_codes"] is True
        assert tags["binary_code_column"] == "Joint Bayesian (binary)"
    # tags follow the parameters, through set_params and clone
    head = clone(JointBayesian().set_params(binarize="zero"))
    assert component_tags(head)["binary_code_column"] == "Joint Bayesian (binary)"
    for plain in (CosineVerifier(), PairSVM()):
        assert "binary_codes" not in component_tags(plain)
    # default instances: only Hamming works on binary codes
    assert heads_with_tag("binary_codes") == ["hamming_verifier"]
    assert heads_with_tag("binary_code_column", "Joint Bayesian (real)") == ["joint_bayesian"]


def test_a_head_without_tags_counts_as_false():
    class Plain:  # a plugin head that declares nothing
        pass

    HEADS.register("_test_plain_head")(Plain)
    try:
        assert "_test_plain_head" in heads_with_tag("scores_pairs", False)
        assert "_test_plain_head" not in heads_with_tag("scores_pairs")
        assert "_test_plain_head" in heads_with_tag("binary_code_column", None)
    finally:
        HEADS.unregister("_test_plain_head")
