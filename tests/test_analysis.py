"""The neuron analyses: numbers on hand-built matrices, planted units and small real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from transfer.analysis import (
    activation_criterion,
    attribute_selectivity,
    binary_code_verification,
    binary_codes,
    cosine_similarity_rows,
    filter_grid,
    identity_activation_stats,
    identity_selectivity,
    identity_single_unit_accuracy,
    image_grid,
    occlude,
    occlusion_robustness,
    pair_single_unit_accuracy,
    plot_attribute_heatmap,
    plot_image_grid,
    plot_occlusion,
    plot_sparsity,
    single_unit_accuracy,
    sparsity_histograms,
    sparsity_per_image,
    sparsity_per_unit,
    sparsity_summary,
    top_activating_images,
    top_image_grid,
)
from transfer.heads import HammingVerifier, KNNHead, SingleNeuronHead

# --------------------------------------------------------------------------- sparsity

HAND = np.array([[1.0, 0, 2, 0], [0, 0, 0, 3], [1, 1, 1, 1]])


def test_sparsity_of_a_hand_built_matrix():
    per_image = sparsity_per_image(HAND)
    np.testing.assert_array_equal(per_image["n_active"], [2, 1, 4])
    np.testing.assert_allclose(per_image["fraction_active"], [0.5, 0.25, 1.0])
    per_unit = sparsity_per_unit(HAND, unit_names=["a", "b", "c", "d"])
    np.testing.assert_allclose(per_unit["fraction_active"], [2 / 3, 1 / 3, 2 / 3, 2 / 3])
    assert list(per_unit["unit_name"]) == ["a", "b", "c", "d"]
    summary = sparsity_summary(HAND).iloc[0]
    assert summary["mean_per_image"] == pytest.approx(1.75 / 3)
    assert summary["median_per_image"] == 0.5
    assert summary["mean_per_unit"] == pytest.approx(7 / 12)
    assert (summary["dead_units"], summary["always_active_units"]) == (0, 0)
    assert set(per_image["criterion"]) == {"relu"} and summary["criterion"] == "relu"
    assert "post-ReLU" in per_image.attrs["criterion"]


def test_sparsity_histograms_and_their_figure():
    hist = sparsity_histograms(HAND, bins=4)
    images = hist[hist["over"] == "images"]
    units = hist[hist["over"] == "units"]
    # image fractions 0.5, 0.25, 1.0 (the last bin holds 1); unit fractions 2/3 x 3, 1/3
    np.testing.assert_array_equal(images["count"], [0, 1, 1, 1])
    np.testing.assert_array_equal(units["count"], [0, 1, 3, 0])
    np.testing.assert_allclose(images["bin_left"], [0, 0.25, 0.5, 0.75])
    fig = plot_sparsity(hist, title="hand")
    heights = [[p.get_height() for p in ax.patches] for ax in fig.axes]
    assert heights == [[0, 1, 1, 1], [0, 1, 3, 0]]


def test_a_layer_with_negative_values_uses_the_sign():
    X = HAND - 0.5  # 0 becomes -0.5: inactive; 1 becomes 0.5: active
    X[0, 1] = 0.0  # exactly 0 is inactive under either reading
    assert activation_criterion(X) == "sign"
    per_image = sparsity_per_image(X)
    np.testing.assert_array_equal(per_image["n_active"], [2, 1, 4])
    assert set(per_image["criterion"]) == {"sign"}
    assert "not a post-ReLU layer" in sparsity_summary(X).attrs["criterion"]


def test_sparsity_rejects_bad_input():
    with pytest.raises(ValueError, match=r"shape \(n_samples, n_units\)"):
        sparsity_per_image(np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        sparsity_per_unit(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="bins"):
        sparsity_histograms(HAND, bins=0)


# --------------------------------------------------------------------------- selectivity


@pytest.fixture
def planted():
    """5 identities x 40 images, 30 noise units; unit 7 fires for identity 2 only."""
    rng = np.random.default_rng(0)
    identities = np.repeat(np.array(["ann", "bob", "cy", "dee", "eve"]), 40)
    X = rng.normal(size=(200, 30))
    X[identities == "cy", 7] += 3.0
    train = np.tile(np.arange(40) < 25, 5)
    return X, identities, train


def test_identity_statistics_match_groupby(planted):
    X, identities, _ = planted
    table = identity_activation_stats(X, identities)
    assert len(table) == 30 * 5
    ref = pd.DataFrame(X).assign(identity=identities).groupby("identity")
    row = table[(table["unit"] == 7) & (table["identity"] == "cy")].iloc[0]
    assert row["n_images"] == 40
    assert row["mean"] == pytest.approx(ref.mean().loc["cy", 7])
    assert row["std"] == pytest.approx(ref.std(ddof=0).loc["cy", 7])


def test_group_statistics_sparse_equal_dense(monkeypatch):
    import transfer.analysis.selectivity as module

    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 12))
    member = rng.integers(0, 120, size=300)[:, None] == np.arange(121)  # one empty group
    monkeypatch.setattr(module, "_SPARSE_MEMBERSHIP", 0.0)  # the dense product
    dense = module._group_stats(X, member)
    monkeypatch.setattr(module, "_SPARSE_MEMBERSHIP", 1.1)  # the sparse product
    sparse = module._group_stats(X, member)
    for a, b in zip(dense, sparse, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert np.isnan(sparse[1][120]).all()  # the empty group has no statistic


def test_identity_selectivity_finds_the_planted_unit(planted):
    X, identities, _ = planted
    table = identity_selectivity(X, identities, k=1.0)
    assert table["best_d_prime"].idxmax() == 7
    unit7 = table.iloc[7]
    assert unit7["best_identity"] == "cy"
    assert unit7["fraction_identities_above"] == pytest.approx(0.2)
    assert (table.drop(index=7)["fraction_identities_above"] == 0).all()
    # d-prime against its definition on the two groups
    inside, outside = X[identities == "cy", 7], X[identities != "cy", 7]
    d = (inside.mean() - outside.mean()) / np.sqrt((inside.var() + outside.var()) / 2)
    assert unit7["best_d_prime"] == pytest.approx(d)


def test_identity_single_unit_accuracy_on_held_out_images(planted):
    X, identities, train = planted
    table = identity_single_unit_accuracy(X, identities, train, ~train)
    cy = table.set_index("target").loc["cy"]
    assert cy["unit"] == 7
    assert cy["test_balanced_accuracy"] > 0.95
    assert cy["test_majority_accuracy"] == pytest.approx(0.8)
    assert list(table["n_test"].unique()) == [75]
    # the rule is chosen on the training rows only: the head fitted there, scored here
    head = SingleNeuronHead(criterion="balanced_accuracy").fit(X[train], identities[train] == "cy")
    assert head.unit_[0] == 7
    truth = identities[~train] == "cy"
    assert cy["test_accuracy"] == pytest.approx((head.predict(X[~train]) == truth).mean())


def test_attribute_selectivity_and_heatmap():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 12))
    A = np.column_stack([rng.random(300) < 0.5, X[:, 3] + 0.3 * rng.normal(size=300) > 0])
    table = attribute_selectivity(X, A.astype(int), attribute_names=["random", "planted"])
    assert len(table) == 12 * 2
    best = table.loc[table["d_prime"].abs().idxmax()]
    assert (best["unit"], best["attribute"]) == (3, "planted")
    present = X[A[:, 1], 3]
    assert best["mean_present"] == pytest.approx(present.mean())
    assert best["std_present"] == pytest.approx(present.std())
    fig = plot_attribute_heatmap(table, max_units=4)
    drawn = fig.axes[0].images[0].get_array()
    assert drawn.shape == (4, 2)
    grid = table.pivot(index="unit", columns="attribute", values="d_prime")
    assert np.max(np.abs(drawn)) == pytest.approx(np.abs(grid.to_numpy()).max())
    with pytest.raises(ValueError, match="0/1"):
        attribute_selectivity(X, A.astype(int) * 2 - 1)


def test_single_unit_accuracy_on_digits():
    X, digits = load_digits(return_X_y=True)
    Y = np.stack([digits == k for k in range(10)], axis=1).astype(int)
    train = np.arange(len(X)) % 3 != 0
    table = single_unit_accuracy(X, Y, train, ~train, target_names=[str(k) for k in range(10)])
    head = SingleNeuronHead().fit(X[train], Y[train])
    np.testing.assert_array_equal(table["unit"], head.unit_)
    np.testing.assert_allclose(table["train_accuracy"], head.train_accuracy_)
    np.testing.assert_allclose(
        table["test_accuracy"], (head.predict(X[~train]) == Y[~train]).mean(0)
    )
    majority = (Y[~train] == 0).mean(axis=0)  # every digit is a minority: "no" is the majority
    np.testing.assert_allclose(table["test_majority_accuracy"], majority)
    # one pixel already beats "never" for some digits, none for all
    assert (table["test_accuracy"] >= table["test_majority_accuracy"] - 0.02).all()


def test_single_unit_accuracy_of_a_one_column_target():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(100, 6))
    y = (X[:, 5] > 0.3).astype(int)
    table = single_unit_accuracy(X, y, np.arange(60), np.arange(60, 100))
    row = table.iloc[0]
    assert (row["unit"], row["polarity"], row["train_accuracy"]) == (5, 1, 1.0)
    x = X[:60, 5]
    assert x[y[:60] == 0].max() < row["threshold"] < x[y[:60] == 1].min()
    assert row["test_accuracy"] == ((X[60:, 5] > row["threshold"]) == y[60:]).mean() >= 0.95


def test_pair_single_unit_accuracy_uses_the_planted_unit():
    rng = np.random.default_rng(3)
    n = 400
    same = np.arange(n) % 2 == 0
    X1 = rng.normal(size=(n, 10))
    X2 = X1 + rng.normal(size=(n, 10))
    X2[:, 4] = X1[:, 4] + np.where(same, 0.05, 3.0) * rng.normal(size=n)
    train = np.arange(n) < 300
    row = pair_single_unit_accuracy(X1, X2, same, train, ~train).iloc[0]
    assert (row["unit"], row["polarity"]) == (4, -1)  # "same" below the threshold
    assert row["test_accuracy"] > 0.9
    head = SingleNeuronHead().fit(np.abs(X1 - X2)[train], same[train])
    assert row["threshold"] == head.threshold_[0]


# --------------------------------------------------------------------------- binary codes


def _digit_pairs(n_pairs=300, seed=0):
    X, y = load_digits(return_X_y=True)
    X = X - X.mean(axis=0)  # centred pixels: both signs, so codes at 0 and median differ
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(X), n_pairs)
    j = np.where(
        np.arange(n_pairs) % 2 == 0,
        [rng.choice(np.flatnonzero(y == y[a])) for a in i],
        rng.integers(0, len(X), n_pairs),
    )
    return np.stack([X[i], X[j]], axis=1), y[i] == y[j]


def test_binary_codes_at_zero_and_median():
    X = np.random.default_rng(0).normal(size=(101, 5))
    np.testing.assert_array_equal(binary_codes(X, "zero"), X > 0)
    median = binary_codes(X, "median")
    np.testing.assert_array_equal(median.sum(axis=0), [50] * 5)  # odd count, distinct values
    assert median.dtype == np.uint8
    # thresholds from a reference set, applied to other images
    np.testing.assert_array_equal(
        binary_codes(X[:3], "median", reference=X), X[:3] > np.median(X, axis=0)
    )


def test_binary_code_verification_equals_the_verifiers():
    P, same = _digit_pairs()
    P_train, s_train, P_test, s_test = P[:200], same[:200], P[200:], same[200:]
    table = binary_code_verification(P_train, s_train, P_test, s_test)
    rows = table.set_index(["code", "head"])
    assert set(rows.index) == {
        ("real", "cosine_verifier"),
        ("zero", "cosine_verifier"),
        ("zero", "hamming_verifier"),
        ("median", "cosine_verifier"),
        ("median", "hamming_verifier"),
    }  # the Hamming head binarises by itself: no row on real values
    for code in ("zero", "median"):
        own = HammingVerifier(threshold=code).fit(P_train, s_train)
        assert rows.loc[(code, "hamming_verifier"), "test_accuracy"] == own.score(P_test, s_test)
        assert rows.loc[(code, "hamming_verifier"), "train_accuracy"] == own.score(P_train, s_train)
    # Hamming at 0 by hand: agreeing bits, threshold maximising training accuracy
    bits = P > 0
    agree = (bits[:, 0] == bits[:, 1]).mean(axis=1)
    cuts = np.unique(agree[:200])
    train_acc = [((agree[:200] > t) == s_train).mean() for t in cuts - 1e-9]
    best = cuts[int(np.argmax(train_acc))] - 1e-9
    assert rows.loc[("zero", "hamming_verifier"), "train_accuracy"] == pytest.approx(max(train_acc))
    assert rows.loc[("zero", "hamming_verifier"), "test_accuracy"] >= 0.6
    assert ((agree[200:] > best) == s_test).mean() == pytest.approx(
        rows.loc[("zero", "hamming_verifier"), "test_accuracy"], abs=0.02
    )
    assert rows.loc[("zero", "cosine_verifier"), "fraction_on"] == pytest.approx(
        (P_test > 0).mean()
    )


def test_binary_code_verification_rejects_bad_input():
    P, same = _digit_pairs(20)
    with pytest.raises(ValueError, match="pairs_train must hold pairs"):
        binary_code_verification(P[:, 0], same, P, same)
    with pytest.raises(ValueError, match="codes must be among"):
        binary_code_verification(P, same, P, same, codes=("sign",))
    with pytest.raises(ValueError, match="same_test must hold one"):
        binary_code_verification(P, same, P, same[:3])


# --------------------------------------------------------------------------- occlusion


def test_occlude_bars_and_blocks():
    images = np.ones((3, 10, 8))
    bottom = occlude(images, "bottom", 0.3, fill=0.5)
    assert (bottom[:, 7:] == 0.5).all() and (bottom[:, :7] == 1).all()
    top = occlude(images, "top", 0.3, fill=0.5)
    assert (top[:, :3] == 0.5).all() and (top[:, 3:] == 1).all()
    block = occlude(images, "random_block", 0.25, seed=4, fill=0.5)
    # sides round(0.5 * 10) x round(0.5 * 8): 20 grey pixels per image, in one rectangle
    assert ((block == 0.5).sum(axis=(1, 2)) == 20).all()
    np.testing.assert_array_equal(block, occlude(images, "random_block", 0.25, seed=4, fill=0.5))
    other = occlude(images, "random_block", 0.25, seed=5, fill=0.5)
    assert not np.array_equal(block, other)
    rgb = occlude(np.ones((2, 10, 8, 3)), "top", 1.0, fill=0.5)
    assert (rgb == 0.5).all()
    with pytest.raises(ValueError, match="kind must be one of"):
        occlude(images, "left", 0.2)
    assert np.array_equal(images, np.ones((3, 10, 8)))  # the input is not modified


def test_cosine_similarity_rows():
    A = np.array([[1.0, 0], [0, 0], [0, 0], [1, 1]])
    B = np.array([[2.0, 0], [0, 0], [1, 0], [-1, -1]])
    np.testing.assert_allclose(cosine_similarity_rows(A, B), [1, 1, 0, -1])


@pytest.fixture
def digit_images():
    X, y = load_digits(return_X_y=True)
    keep = np.arange(len(X)) < 400
    return (X[keep] * 16).reshape(-1, 8, 8), y[keep]  # 0..255 grey, like the project's images


def test_occlusion_limits_and_accuracies(digit_images):
    from transfer.registry import create_extractor

    images, digits = digit_images
    extractor = create_extractor("pixels").fit(images)
    gallery = np.arange(len(images)) % 2 == 0
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, len(images), size=(300, 2))
    same = digits[pairs[:, 0]] == digits[pairs[:, 1]]
    table = occlusion_robustness(
        extractor,
        images,
        fractions=(0.0, 0.5, 1.0),
        identities=digits,
        identity_train=gallery,
        pairs=pairs,
        same=same,
        pair_train=np.arange(300) < 200,
    )
    assert len(table) == 3 * 3
    clean = table[table["fraction"] == 0]
    np.testing.assert_allclose(clean["cosine_mean"], 1.0, rtol=1e-12)
    np.testing.assert_allclose(clean["cosine_std"], 0.0, atol=1e-12)
    knn = KNNHead().fit(images.reshape(-1, 64)[gallery], digits[gallery])
    clean_acc = knn.score(images.reshape(-1, 64)[~gallery], digits[~gallery])
    assert (clean["identification_accuracy"] == clean_acc).all()
    # fully occluded: every image is the grey image, whatever the kind
    grey = extractor.transform(np.full((1, 8, 8), 128.0))
    full = table[table["fraction"] == 1.0]
    expected = cosine_similarity_rows(np.repeat(grey, len(images), axis=0), images.reshape(-1, 64))
    np.testing.assert_allclose(full["cosine_mean"], expected.mean())
    # one grey probe: every probe gets the grey image's single nearest class
    answer = knn.predict(grey)[0]
    np.testing.assert_allclose(full["identification_accuracy"], (digits[~gallery] == answer).mean())
    half = table[table["fraction"] == 0.5]
    assert (half["identification_accuracy"] < clean_acc).all()
    assert (half["cosine_mean"] < 1).all()
    assert (table["verification_accuracy"] <= 1).all() and "verification_accuracy" in table
    fig = plot_occlusion(table.assign(extractor="pixels"), metric="identification_accuracy")
    lines = fig.axes[0].get_lines()
    assert len(lines) == 3
    np.testing.assert_allclose(
        lines[0].get_ydata(), table[table["kind"] == "bottom"]["identification_accuracy"]
    )


def test_occlusion_is_deterministic_and_validated(digit_images):
    from transfer.registry import create_extractor

    images, _ = digit_images
    extractor = create_extractor("hog", pixels_per_cell=(4, 4)).fit(images[:40])
    kwargs = {"kinds": ("random_block",), "fractions": (0.3,), "seed": 3}
    a = occlusion_robustness(extractor, images[:40], **kwargs)
    b = occlusion_robustness(extractor, images[:40], **kwargs)
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(ValueError, match="pairs need same"):
        occlusion_robustness(extractor, images[:40], pairs=np.zeros((2, 2), int))
    with pytest.raises(ValueError, match="fractions must be in"):
        occlusion_robustness(extractor, images[:40], fractions=(1.5,))


# --------------------------------------------------------------------------- filters


def test_filter_grid_of_known_kernels():
    kernels = np.zeros((3, 2, 2, 1))
    kernels[0, :, :, 0] = [[0, 1], [2, 3]]
    kernels[1, :, :, 0] = 5.0  # constant: mid-grey
    kernels[2, :, :, 0] = [[-1, 1], [1, 1]]
    grid = filter_grid(kernels, n_cols=2, pad=1)
    expected = np.ones((7, 7))  # 2 rows x 2 columns of 2x2 tiles, 1-pixel white borders
    expected[1:3, 1:3] = [[0, 1 / 3], [2 / 3, 1]]
    expected[1:3, 4:6] = 0.5
    expected[4:6, 1:3] = [[0, 1], [1, 1]]
    np.testing.assert_allclose(grid, expected)
    # colour kernels are normalised over all three channels of the filter
    rgb = np.zeros((1, 1, 2, 3))
    rgb[0, 0, 0] = [0, 1, 2]
    rgb[0, 0, 1] = [4, 3, 2]
    np.testing.assert_allclose(filter_grid(rgb, pad=0), [[[0, 0.25, 0.5], [1, 0.75, 0.5]]])
    # more input channels: their mean, in grey
    many = np.stack([kernels[..., 0]] * 4, axis=-1)
    np.testing.assert_allclose(filter_grid(many, n_cols=2), expected)
    fig = plot_image_grid(grid, title="filters")
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), expected)


def test_top_activating_images_and_their_grid():
    F = np.array([[1.0, 0], [3, 0], [3, 1], [0, 2]])
    table = top_activating_images(F, units=[0, 1], k=2)
    assert list(table["image"]) == [1, 2, 3, 2]  # a tie goes to the lower index
    np.testing.assert_array_equal(table["activation"], [3, 3, 2, 1])
    images = np.arange(4)[:, None, None] * np.full((4, 2, 2), 50.0)  # image i is 50 * i grey
    grid = top_image_grid(images, table)
    assert grid.shape == (2 * 3 + 1, 2 * 3 + 1)
    tiles = [grid[1:3, 1:3], grid[1:3, 4:6], grid[4:6, 1:3], grid[4:6, 4:6]]
    assert [t.mean() * 255 for t in tiles] == pytest.approx([50, 100, 150, 100])
    with pytest.raises(ValueError, match="outside"):
        top_activating_images(F, units=[2])
    np.testing.assert_allclose(
        image_grid(np.ones((1, 2, 2)), n_cols=1, value_range=(0, 2)),
        [[1, 1, 1, 1], [1, 0.5, 0.5, 1], [1, 0.5, 0.5, 1], [1, 1, 1, 1]],
    )


@pytest.mark.slow
def test_first_conv_kernels_of_a_keras_model():
    from transfer._quiet import import_tensorflow

    import_tensorflow()
    import keras

    from transfer.analysis import first_conv_kernels

    inner = keras.Sequential(
        [keras.Input((6, 6, 3)), keras.layers.Conv2D(2, 2, name="first"), keras.layers.ReLU()]
    )
    outer = keras.Sequential([keras.Input((6, 6, 3)), inner, keras.layers.Conv2D(1, 1)])
    kernel = np.arange(2 * 2 * 3 * 2, dtype=np.float32).reshape(2, 2, 3, 2)
    inner.get_layer("first").kernel.assign(kernel)
    kernels, name = first_conv_kernels(outer)
    assert name == "first"
    np.testing.assert_array_equal(kernels, np.transpose(kernel, (3, 0, 1, 2)))
    with pytest.raises(ValueError, match="no Conv2D layer"):
        first_conv_kernels(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))


def test_occlusion_of_real_faces_lowers_similarity_steadily():
    from skimage.data import lfw_subset

    from transfer.registry import create_extractor

    faces = lfw_subset()[:100] * 255.0  # the first 100 are faces, 25 x 25 grey
    extractor = create_extractor("hog", pixels_per_cell=(5, 5)).fit(faces)
    table = occlusion_robustness(extractor, faces, fractions=(0.0, 0.2, 0.4, 0.6, 0.8))
    for kind, part in table.groupby("kind"):
        cosine = part.sort_values("fraction")["cosine_mean"].to_numpy()
        assert cosine[0] == pytest.approx(1.0)
        assert np.all(np.diff(cosine) < 0), kind


def test_d_prime_edge_cases():
    from transfer.analysis import d_prime

    got = d_prime(
        np.array([2.0, 1.0, 1.0, np.nan]),
        np.array([1.0, 0.0, 0.0, np.nan]),
        np.array([0.0, 1.0, 0.0, 0.0]),
        np.array([1.0, 0.0, 0.0, 1.0]),
    )
    np.testing.assert_array_equal(got, [2.0, 0.0, np.inf, np.nan])
