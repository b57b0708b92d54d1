import numpy as np
import pytest

from autoal.errors import InputError
from autoal.query.strategies import STRATEGIES, activelab, call_strategy, entropy, get_strategy, least_confidence, margin

POOL = np.array([
    [0.90, 0.05, 0.05],   # confident
    [0.40, 0.35, 0.25],   # unsure, small margin
    [0.50, 0.49, 0.01],   # smallest margin
    [0.34, 0.33, 0.33],   # most uncertain overall
])
LABELS = np.array([[0.0], [1.0]])
LABELLED_PROBS = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1]])


def order(scores):
    return list(np.argsort(scores, kind="stable"))


def test_least_confidence_orders_by_top_probability():
    _, scores = least_confidence(LABELS, LABELLED_PROBS, POOL)
    assert order(scores) == [3, 1, 2, 0]


def test_margin_orders_by_gap_between_top_two():
    _, scores = margin(LABELS, LABELLED_PROBS, POOL)
    assert order(scores)[:2] == [2, 3]
    assert scores[2] == pytest.approx(0.01)


def test_entropy_asks_most_uncertain_first_and_confident_last():
    _, scores = entropy(LABELS, LABELLED_PROBS, POOL)
    assert order(scores)[0] == 3 and order(scores)[-1] == 0


def test_activelab_matches_cleanlab_single_annotator_formula():
    scores_labeled, scores_pool = activelab(LABELS, LABELLED_PROBS, POOL)
    k = POOL.shape[1]
    np.testing.assert_allclose(scores_pool, (POOL.max(axis=1) + 1 / k) / 2)
    given = LABELLED_PROBS[[0, 1], [0, 1]]
    np.testing.assert_allclose(scores_labeled, (2 * given + 1 / k) / 3)


def test_activelab_with_several_annotators_scores_labelled_and_pool():
    labels = np.array([[0, 0, np.nan], [1, 0, 1], [2, np.nan, 2], [0, 1, 2]], dtype=float)
    probs = np.array([[0.9, 0.05, 0.05], [0.3, 0.6, 0.1], [0.1, 0.1, 0.8], [0.34, 0.33, 0.33]])
    scores_labeled, scores_pool = activelab(labels, probs, POOL)
    assert scores_labeled.shape == (4,) and scores_pool.shape == (4,)
    assert np.all((scores_labeled >= 0) & (scores_labeled <= 1))
    # the example the annotators disagree on and the model is unsure of is the best relabel candidate
    assert np.argmin(scores_labeled) == 3


def test_random_strategy_is_seeded():
    a = get_strategy("random", random_state=3)(LABELS, LABELLED_PROBS, POOL)[1]
    b = get_strategy("random", random_state=3)(LABELS, LABELLED_PROBS, POOL)[1]
    c = get_strategy("random", random_state=4)(LABELS, LABELLED_PROBS, POOL)[1]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_unknown_strategy_lists_the_valid_names():
    with pytest.raises(InputError, match="strategy must be one of 'auto', 'activelab', 'random', 'least_confidence', 'margin', 'entropy'.*, got 'best'"):
        get_strategy("best")


def test_custom_callable_may_return_pool_scores_only():
    custom = get_strategy(lambda labels, probs, pool: -pool[:, 0])
    scores_labeled, scores = call_strategy(custom, LABELS, LABELLED_PROBS, POOL)
    assert scores_labeled is None and order(scores)[0] == 0


def test_strategy_returning_wrong_length_is_reported():
    with pytest.raises(InputError, match="returned 2 scores for 4 unlabelled pool"):
        call_strategy(lambda labels, probs, pool: np.zeros(2), LABELS, LABELLED_PROBS, POOL)


def test_strategy_returning_nan_is_reported():
    with pytest.raises(InputError, match="NaN scores"):
        call_strategy(lambda labels, probs, pool: np.full(len(pool), np.nan), LABELS, LABELLED_PROBS, POOL)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_scores_the_pool_in_its_own_range(name):
    scores_labeled, scores = call_strategy(get_strategy(name), LABELS, LABELLED_PROBS, POOL)
    low = -np.log(POOL.shape[1]) if name == "entropy" else 0.0  # entropy's score is minus the entropy
    assert np.isfinite(scores).all() and (scores >= low - 1e-12).all() and (scores <= 1 + 1e-12).all()
    assert (name == "activelab") == (scores_labeled is not None), "only ActiveLab scores labelled examples"
    assert len(np.unique(scores)) > 1, "the pool's rows are told apart"


@pytest.mark.parametrize("name", ["activelab", "least_confidence", "margin", "entropy"])
def test_uncertainty_strategies_rank_a_certain_example_last(name):
    pool = np.array([[1.0, 0.0, 0.0], [0.5, 0.3, 0.2]])
    _, scores = call_strategy(get_strategy(name), LABELS, LABELLED_PROBS, pool)
    assert scores[1] < scores[0]
