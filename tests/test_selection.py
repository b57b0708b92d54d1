import numpy as np

from autoal.query.batching import select_lowest


def test_picks_lowest_scores_by_id_lowest_first():
    ids = ["a", "b", "c", "d"]
    assert select_lowest(ids, [0.5, 0.1, 0.9, 0.3], 2, random_state=0) == ["b", "d"]


def test_batch_larger_than_pool_returns_everything():
    assert sorted(select_lowest([10, 20, 30], [3, 1, 2], 50, random_state=0)) == [10, 20, 30]


def test_ties_are_broken_by_the_seed_reproducibly():
    ids = list(range(100))
    scores = np.zeros(100)
    first = select_lowest(ids, scores, 10, random_state=1)
    assert first == select_lowest(ids, scores, 10, random_state=1)
    assert first != select_lowest(ids, scores, 10, random_state=2)
    assert len(set(first)) == 10


def test_ties_never_outrank_lower_scores():
    scores = np.r_[np.zeros(5), np.full(5, -1.0)]
    assert sorted(select_lowest(list(range(10)), scores, 5, random_state=0)) == [5, 6, 7, 8, 9]
