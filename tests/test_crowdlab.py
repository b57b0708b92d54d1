"""autoal.multiannotator.crowdlab gives cleanlab 2.9's CROWDLAB and ActiveLab results, faster, with a one-entry memo,
for float64 and float32 probabilities, with cleanlab's random tie-breaks seeded."""

import warnings

import numpy as np
import pandas as pd
import pytest
from cleanlab.internal.multiannotator_utils import find_best_temp_scaler
from cleanlab.internal.util import value_counts
from cleanlab.multiannotator import get_active_learning_scores, get_label_quality_multiannotator

from autoal.multiannotator import crowdlab
from autoal.multiannotator.activelab import active_learning_scores
from autoal.multiannotator.crowdlab import (
    CrowdlabMemo,
    CrowdlabResult,
    best_temperature,
    counting_mode,
    multiannotator_quality,
)

TOL = {"rtol": 1e-10, "atol": 1e-12}


def make_data(n, m, k, *, seed, share_single=0.4, share_all=0.3, noise=(0.1, 0.3, 0.6), pool=0):
    """Seeded labels (n, m) with NaN, probabilities (n, k), and a pool (pool, k).

    Rows get one label, two labels or all m (shares ``share_single``, ``share_all``, the rest two);
    annotator j is wrong with probability ``noise[j % len(noise)]``; every annotator labels row j % m
    so no column is empty.
    """
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    kind = rng.choice(3, size=n, p=[share_single, 1 - share_single - share_all, share_all])
    given = np.zeros((n, m), dtype=bool)
    for i in range(n):
        count = (1, min(2, m), m)[kind[i]]
        given[i, rng.choice(m, size=count, replace=False)] = True
    given[np.arange(m), np.arange(m)] = True
    wrong = rng.random((n, m)) < np.array([noise[j % len(noise)] for j in range(m)])
    noisy = (truth[:, None] + rng.integers(1, k, (n, m))) % k if k > 1 else truth[:, None]
    labels = np.where(given, np.where(wrong, noisy, truth[:, None]), np.nan).astype(float)
    return labels, _probs(rng, truth, k), _probs(rng, rng.integers(0, k, pool), k)


def _probs(rng, truth, k):
    logits = rng.normal(0, 1.5, (len(truth), k))
    logits[np.arange(len(truth)), truth] += 1.5
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True)


SHAPES = [  # (n, m, k, seed)
    (20, 2, 2, 0),
    (60, 3, 3, 1),
    (200, 5, 10, 2),
    (500, 3, 10, 3),
    (2000, 3, 3, 4),
    (1000, 5, 2, 5),
]


def assert_scores_equal_cleanlabs(labels, pred_probs, pool):
    ours = active_learning_scores(labels, pred_probs, pool)
    theirs = get_active_learning_scores(labels, pred_probs, pool)
    np.testing.assert_allclose(ours[0], theirs[0], **TOL)
    np.testing.assert_allclose(ours[1], theirs[1], **TOL)


def cleanlab_quality(labels, pred_probs):
    return get_label_quality_multiannotator(
        labels, pred_probs, calibrate_probs=True, return_weights=True, return_annotator_stats=True,
        verbose=False,
    )


@pytest.mark.parametrize("n, m, k, seed", SHAPES)
def test_best_temperature_equals_cleanlab(n, m, k, seed):
    labels, pred_probs, _ = make_data(n, m, k, seed=seed)
    assert best_temperature(labels, pred_probs) == find_best_temp_scaler(labels, pred_probs)


@pytest.mark.parametrize("k", [3, 10])
def test_best_temperature_equals_cleanlab_for_integer_labels(k):
    # Without NaN the labels can be an integer array, for which cleanlab counts labels differently.
    labels, pred_probs, _ = make_data(300, 3, k, seed=7, share_single=0.0, share_all=1.0)
    labels = labels.astype(int)
    assert best_temperature(labels, pred_probs) == find_best_temp_scaler(labels, pred_probs)


def test_best_temperature_sharpens_underconfident_probabilities():
    # Integer labels (every annotator labelled every row): cleanlab counts them at their class.
    labels, pred_probs, _ = make_data(500, 3, 3, seed=8, noise=(0.0,), share_single=0.0, share_all=1.0)
    labels = labels.astype(int)
    flat = pred_probs**0.2 / (pred_probs**0.2).sum(axis=1, keepdims=True)
    assert best_temperature(labels, flat) == find_best_temp_scaler(labels, flat) < 1


def test_float_labels_are_counted_in_cleanlabs_layout():
    # cleanlab 2.9's value_counts packs a row's float label counts into the first columns; the
    # empirical distribution copies that to stay equal. If cleanlab changes it, revisit both.
    assert value_counts(np.array([2.0, 2.0]), num_classes=3).tolist() == [2, 0, 0]
    assert value_counts(np.array([2, 2]), num_classes=3).tolist() == [0, 0, 2]
    distribution = crowdlab._empirical_label_distribution
    packed = distribution(np.array([[2.0, 2.0], [0.0, 2.0]]), 3)
    np.testing.assert_array_equal(packed, [[1, 0, 0], [0.5, 0.5, 0]])
    np.testing.assert_array_equal(distribution(np.array([[2, 2], [0, 2]]), 3), [[0, 0, 1], [0.5, 0, 0.5]])


@pytest.mark.parametrize("n, m, k, seed", SHAPES)
def test_multiannotator_quality_equals_cleanlab(n, m, k, seed):
    labels, pred_probs, _ = make_data(n, m, k, seed=seed)
    ours = multiannotator_quality(labels, pred_probs)
    theirs = cleanlab_quality(labels, pred_probs)
    per_example = theirs["label_quality"]
    assert ours.temperature == find_best_temp_scaler(labels, pred_probs)
    np.testing.assert_array_equal(ours.consensus_label, per_example["consensus_label"])
    np.testing.assert_allclose(ours.consensus_quality, per_example["consensus_quality_score"], **TOL)
    stats = theirs["annotator_stats"].sort_index()
    np.testing.assert_allclose(ours.annotator_quality, stats["annotator_quality"], **TOL)
    np.testing.assert_allclose(ours.model_weight, theirs["model_weight"], **TOL)
    np.testing.assert_allclose(ours.annotator_weight, theirs["annotator_weight"], **TOL)
    assert ours.consensus_label.shape == (n,) and ours.annotator_quality.shape == (m,)


def test_multiannotator_quality_accepts_a_dataframe():
    labels, pred_probs, _ = make_data(100, 3, 3, seed=9)
    frame = pd.DataFrame(labels, columns=["ann", "bob", "cy"]).astype("Float64")  # pd.NA for missing
    ours = multiannotator_quality(frame, pred_probs)
    theirs = cleanlab_quality(frame, pred_probs)
    np.testing.assert_array_equal(ours.consensus_label, theirs["label_quality"]["consensus_label"])
    quality = theirs["annotator_stats"]["annotator_quality"].reindex(frame.columns)
    np.testing.assert_allclose(ours.annotator_quality, quality, **TOL)


@pytest.mark.parametrize("n, m, k, seed", SHAPES)
def test_active_learning_scores_equal_cleanlab_with_several_labels(n, m, k, seed):
    labels, pred_probs, pool = make_data(n, m, k, seed=seed, pool=3 * n + 7)
    ours = active_learning_scores(labels, pred_probs, pool)
    theirs = get_active_learning_scores(labels, pred_probs, pool)
    np.testing.assert_allclose(ours[0], theirs[0], **TOL)
    np.testing.assert_allclose(ours[1], theirs[1], **TOL)
    assert ours[0].shape == (n,) and ours[1].shape == (3 * n + 7,)


@pytest.mark.parametrize("m, k", [(1, 2), (3, 3), (5, 10)])
def test_active_learning_scores_equal_cleanlab_with_one_label_per_row(m, k):
    labels, pred_probs, pool = make_data(300, m, k, seed=10, share_single=1.0, share_all=0.0, pool=50)
    labels[np.arange(m), :] = np.nan
    labels[np.arange(m), np.arange(m)] = np.arange(m) % k  # the guaranteed labels, one per row
    assert ((~np.isnan(labels)).sum(axis=1) == 1).all()
    assert_scores_equal_cleanlabs(labels, pred_probs, pool)


def test_active_learning_scores_equal_cleanlab_without_a_pool():
    labels, pred_probs, _ = make_data(400, 3, 10, seed=11)
    ours = active_learning_scores(labels, pred_probs, None)
    theirs = get_active_learning_scores(labels, pred_probs, None)
    np.testing.assert_allclose(ours[0], theirs[0], **TOL)
    assert ours[1].shape == theirs[1].shape == (0,)


@pytest.mark.parametrize("labels", [None, np.empty((0, 3))])
def test_active_learning_scores_with_no_labelled_examples_score_the_pool(labels):
    _, _, pool = make_data(20, 3, 10, seed=12, pool=500)
    pred_probs = None if labels is None else np.empty((0, 10))
    ours = active_learning_scores(labels, pred_probs, pool)
    theirs = get_active_learning_scores(None, None, pool)
    assert ours[0].shape == (0,)
    np.testing.assert_allclose(ours[1], theirs[1], **TOL)


def test_labelled_and_pool_scores_are_on_one_scale():
    labels, pred_probs, pool = make_data(300, 3, 3, seed=13, pool=300)
    scored_labelled, scored_pool = active_learning_scores(labels, pred_probs, pool)
    assert 0 <= scored_labelled.min() and scored_labelled.max() <= 1
    assert 0 <= scored_pool.min() and scored_pool.max() <= 1


# --- memo -----------------------------------------------------------------------------------------


def test_identical_inputs_reuse_the_crowdlab_result_kept_in_the_memo(monkeypatch):
    labels, pred_probs, pool = make_data(200, 3, 3, seed=14, pool=100)
    memo = CrowdlabMemo()
    first = multiannotator_quality(labels, pred_probs, memo=memo)
    calls = []
    monkeypatch.setattr(crowdlab, "_compute_crowdlab", lambda *a: calls.append(a))
    assert multiannotator_quality(labels.copy(), pred_probs.copy(), memo=memo) is first
    scores = active_learning_scores(labels, pred_probs, pool, memo=memo)
    assert calls == []
    monkeypatch.undo()
    np.testing.assert_allclose(scores[0], active_learning_scores(labels, pred_probs, pool)[0], **TOL)


def test_without_a_memo_nothing_is_kept():
    labels, pred_probs, _ = make_data(100, 3, 3, seed=19)
    first = multiannotator_quality(labels, pred_probs)
    second = multiannotator_quality(labels, pred_probs)
    assert second is not first
    np.testing.assert_array_equal(second.consensus_quality, first.consensus_quality)


def test_a_changed_label_recomputes():
    labels, pred_probs, _ = make_data(200, 3, 3, seed=15)
    memo = CrowdlabMemo()
    first = multiannotator_quality(labels, pred_probs, memo=memo)
    changed = labels.copy()
    row, col = np.argwhere(~np.isnan(changed))[5]
    changed[row, col] = (changed[row, col] + 1) % 3
    second = multiannotator_quality(changed, pred_probs, memo=memo)
    assert second is not first
    expected = cleanlab_quality(changed, pred_probs)["label_quality"]["consensus_quality_score"]
    np.testing.assert_allclose(second.consensus_quality, expected, **TOL)


def test_a_changed_probability_seed_or_counting_recomputes():
    labels, pred_probs, _ = make_data(200, 3, 3, seed=16)
    memo = CrowdlabMemo()
    first = multiannotator_quality(labels, pred_probs, memo=memo)
    changed = pred_probs.copy()
    changed[0] = changed[0][::-1]
    assert multiannotator_quality(labels, changed, memo=memo) is not first
    first = multiannotator_quality(labels, pred_probs, memo=memo)
    assert multiannotator_quality(labels, pred_probs, memo=memo, random_state=1) is not first
    first = multiannotator_quality(labels, pred_probs, memo=memo)
    assert multiannotator_quality(labels, pred_probs, memo=memo, counting="by_class") is not first


def test_the_memo_keeps_one_result_and_its_arrays_are_read_only():
    a = make_data(100, 3, 3, seed=17)
    b = make_data(100, 3, 3, seed=18)
    memo = CrowdlabMemo()
    first = multiannotator_quality(*a[:2], memo=memo)
    multiannotator_quality(*b[:2], memo=memo)
    assert multiannotator_quality(*a[:2], memo=memo) is not first
    assert isinstance(first, CrowdlabResult)
    with pytest.raises(ValueError, match="read-only"):
        first.consensus_quality[0] = 0.0


# --- float32, counting, seeded ties ----------------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
def test_float32_probabilities_give_cleanlabs_results_exactly(seed):
    rng = np.random.default_rng(seed)
    n, m, k = int(rng.integers(30, 300)), int(rng.integers(2, 5)), int(rng.integers(2, 8))
    labels, pred_probs, pool = make_data(n, m, k, seed=100 + seed, pool=50)
    pred_probs, pool = pred_probs.astype(np.float32), pool.astype(np.float32)
    ours = multiannotator_quality(labels, pred_probs)
    theirs = cleanlab_quality(labels, pred_probs)["label_quality"]
    assert ours.temperature == find_best_temp_scaler(labels, pred_probs)
    np.testing.assert_array_equal(ours.consensus_label, theirs["consensus_label"])
    np.testing.assert_allclose(ours.consensus_quality, theirs["consensus_quality_score"], **TOL)
    assert_scores_equal_cleanlabs(labels, pred_probs, pool)


def test_the_temperature_keeps_numpys_float64_type():
    labels, pred_probs, _ = make_data(100, 3, 3, seed=21)
    assert type(best_temperature(labels, pred_probs.astype(np.float32))) is np.float64
    assert type(multiannotator_quality(labels, pred_probs).temperature) is np.float64


def test_counting_by_class_differs_from_cleanlabs_and_the_block_sets_it():
    labels = np.array([[2.0, 2.0], [0.0, 2.0]])
    np.testing.assert_array_equal(crowdlab._empirical_label_distribution(labels, 3, "by_class"),
                                  [[0, 0, 1], [0.5, 0, 0.5]])
    labels, pred_probs, _ = make_data(300, 3, 3, seed=22)
    with counting_mode("by_class"):
        inside = best_temperature(labels, pred_probs)
    assert inside == best_temperature(labels, pred_probs, counting="by_class")
    assert best_temperature(labels, pred_probs) == find_best_temp_scaler(labels, pred_probs)
    with pytest.raises(ValueError, match="counting must be one of 'cleanlab', 'by_class'"):
        best_temperature(labels, pred_probs, counting="by-class")


def tied_case():
    """Two annotators who disagree on every example, equally often right, and probabilities equal for the
    tied classes: cleanlab's majority vote can only break the ties at random."""
    labels = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    pred_probs = np.full((6, 2), 0.5)
    return labels, pred_probs


def test_cleanlabs_random_ties_are_seeded_by_the_run():
    labels, pred_probs = tied_case()
    results = []
    for noise in (1, 2, 3):
        np.random.seed(noise)  # another global state before each call: it must not matter
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results.append(multiannotator_quality(labels, pred_probs, random_state=7).consensus_label.tolist())
    assert results[0] == results[1] == results[2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        others = {tuple(multiannotator_quality(labels, pred_probs, random_state=s).consensus_label) for s in range(20)}
    assert len(others) > 1, "the seed decides the random tie-breaks"


def test_the_seeded_tie_break_leaves_numpys_global_state_as_it_was():
    labels, pred_probs = tied_case()
    np.random.seed(5)
    expected = np.random.random()
    np.random.seed(5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        multiannotator_quality(labels, pred_probs, random_state=0)
    assert np.random.random() == expected


# --- errors ---------------------------------------------------------------------------------------


def test_one_annotator_column_is_rejected():
    with pytest.raises(ValueError, match="at least 2 annotator columns, got 1"):
        multiannotator_quality(np.array([[0.0], [1.0]]), np.full((2, 2), 0.5))


def test_no_example_with_two_labels_is_rejected():
    labels = np.array([[0.0, np.nan], [np.nan, 1.0], [1.0, np.nan]])
    with pytest.raises(ValueError, match="labelled by 2 or more annotators; none of the 3"):
        multiannotator_quality(labels, np.full((3, 2), 0.5))


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match=r"N = 3 rows.*got \(2, 2\)"):
        multiannotator_quality(np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]]), np.full((2, 2), 0.5))


def test_a_row_without_labels_is_rejected():
    labels = np.array([[0.0, 0.0], [np.nan, np.nan]])
    with pytest.raises(ValueError, match=r"rows of labels_multiannotator have no label \(first: \[1\]\)"):
        best_temperature(labels, np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match=r"no label \(first: \[1\]\)"):
        multiannotator_quality(np.vstack([labels, [[1.0, np.nan]]]), np.full((3, 2), 0.5))


def test_an_annotator_without_labels_is_rejected():
    labels = np.array([[0.0, 0.0, np.nan], [1.0, 0.0, np.nan]])
    with pytest.raises(ValueError, match=r"Annotators \[.*2\)?\] did not label any examples"):
        multiannotator_quality(labels, np.full((2, 2), 0.5))


def test_labels_outside_the_classes_are_rejected():
    with pytest.raises(ValueError, match=r"class indices in 0..1 .*found \[2.0\]"):
        best_temperature(np.array([[0.0, 2.0], [1.0, 1.0]]), np.full((2, 2), 0.5))


def test_labels_without_pred_probs_are_rejected():
    _, _, pool = make_data(20, 2, 2, seed=19, pool=5)
    with pytest.raises(ValueError, match="pred_probs is None but labels_multiannotator has 2 rows"):
        active_learning_scores(np.array([[0.0, 1.0], [1.0, 1.0]]), None, pool)


def test_pred_probs_without_labels_are_rejected():
    with pytest.raises(ValueError, match="pred_probs has 2 rows but labels_multiannotator has none"):
        active_learning_scores(None, np.full((2, 2), 0.5), None)


def test_nothing_to_score_is_rejected():
    with pytest.raises(ValueError, match="cannot both be None"):
        active_learning_scores(None, None, None)


def test_annotators_who_never_agree_warn_like_cleanlab():
    labels = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, np.nan], [np.nan, 1.0]])
    pred_probs = np.array([[0.6, 0.4], [0.3, 0.7], [0.8, 0.2], [0.1, 0.9]])
    with pytest.warns(UserWarning, match="Annotators do not agree on any example"):
        ours = multiannotator_quality(labels, pred_probs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Annotators do not agree")
        theirs = cleanlab_quality(labels, pred_probs)
    expected = theirs["label_quality"]["consensus_quality_score"]
    np.testing.assert_allclose(ours.consensus_quality, expected, **TOL)
