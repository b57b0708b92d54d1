import numpy as np

from autoal.multiannotator.consensus import consensus_labels, majority_vote


def test_majority_vote_and_agreement():
    labels = np.array([[0, np.nan, 1], [2, 2, 1], [np.nan, 1, np.nan]])
    vote, agreement = majority_vote(labels)
    assert vote.tolist() == [0, 2, 1]  # the 0/1 tie goes to class 0, the rarer (1 label in all against 3)
    np.testing.assert_allclose(agreement, [0.5, 2 / 3, 1.0])


def test_one_label_per_example_uses_it():
    labels = np.array([[0, np.nan], [np.nan, 1], [2, np.nan]])
    result = consensus_labels(labels, None, ["a", "b"])
    assert result.method == "majority_vote" and result.labels.tolist() == [0, 1, 2]
    assert result.annotator_quality.isna().all()


def test_single_annotator_column_uses_majority_vote():
    result = consensus_labels(np.array([[1.0], [0.0]]), np.full((2, 2), 0.5), ["only"])
    assert result.method == "majority_vote" and result.labels.tolist() == [1, 0]


def _noisy(seed=0, n=60, k=3):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n)
    probs = np.full((n, k), 0.1)
    probs[np.arange(n), truth] = 0.8
    labels = np.full((n, 4), np.nan)
    labels[:, 0] = truth                                       # a: always right
    labels[:30, 1] = np.where(rng.random(30) < 0.5, truth[:30], (truth[:30] + 1) % k)  # b: often wrong
    labels[:20, 2] = truth[:20]                                # c: right
    return truth, probs, labels                                # d: never labelled (all NaN)


def test_several_annotators_use_crowdlab_and_rank_annotators():
    truth, probs, labels = _noisy()
    result = consensus_labels(labels, probs, ["a", "b", "c", "d"])
    assert result.method == "crowdlab"
    assert (result.labels == truth).mean() == 1.0
    q = result.annotator_quality
    assert np.isnan(q["d"]) and q["a"] > q["b"] and q["c"] > q["b"]
    assert result.quality.shape == (60,) and np.all((result.quality >= 0) & (result.quality <= 1))


def test_the_one_tie_rule_takes_the_rarest_class_then_the_lowest_index():
    # class 2 has 1 label in the matrix, class 0 has 3, class 1 has 2: row 0 ties 0 and 2 -> 2 (rarer);
    # row 1 ties 0 and 1 -> 1; row 2 ties 1 and 2 -> 2
    labels = np.array([[0.0, 2.0], [0.0, 1.0], [1.0, np.nan], [0.0, np.nan]])
    vote, agreement = majority_vote(labels)
    assert vote.tolist() == [2, 1, 1, 0]
    assert agreement.tolist() == [0.5, 0.5, 1.0, 1.0]
    # equal totals: the lower index
    assert majority_vote(np.array([[1.0, 0.0], [0.0, 1.0]]))[0].tolist() == [0, 0]


def test_every_path_uses_the_one_tie_rule():
    import inspect

    import autoal

    assert list(inspect.signature(majority_vote).parameters) == ["labels_multiannotator"]
    root = __import__("pathlib").Path(autoal.__file__).parent
    calls = [line for path in root.rglob("*.py") for line in path.read_text().splitlines() if "majority_vote(" in line
             and "def majority_vote" not in line]
    assert calls and all("ties" not in line for line in calls), calls
