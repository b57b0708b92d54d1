"""Kernel herding for coverage batches (autoal.query.herding)."""

import numpy as np
from sklearn.metrics.pairwise import rbf_kernel

from autoal.query.herding import GAIN_DECIMALS, _lazy_greedy, herded_examples


def three_clusters(seed=0):
    rng = np.random.default_rng(seed)
    points = np.concatenate([rng.normal(0, 0.1, (40, 2)), rng.normal(5, 0.1, (30, 2)),
                             rng.normal((0, 5), 0.1, (20, 2))])
    return points, np.repeat([0, 1, 2], [40, 30, 20])


def test_herding_goes_to_the_clusters_no_label_covers_whatever_the_order():
    points, blob = three_clusters()
    for order_seed in range(3):
        order = np.random.default_rng(order_seed).permutation(len(points))
        labelled = np.flatnonzero(blob[order] == 0)[:2]
        picked = herded_examples(points[order], labelled, 2, random_state=0)
        assert blob[order][picked].tolist() == [1, 2], "the larger uncovered cluster first, then the other"
        assert not set(picked) & set(labelled)


def test_herding_without_labels_takes_one_from_each_cluster():
    points, blob = three_clusters(1)
    assert sorted(blob[herded_examples(points, np.zeros(0, dtype=int), 3, random_state=0)].tolist()) == [0, 1, 2]


def test_herding_gives_k_distinct_unlabelled_rows_when_points_coincide_and_stops_at_the_pool():
    picked = herded_examples(np.ones((12, 3)), np.array([0, 1]), 4, random_state=0)
    assert len(set(picked.tolist())) == 4 and not {0, 1} & set(picked.tolist())
    assert len(herded_examples(np.ones((5, 3)), np.array([0, 1]), 10, random_state=0)) == 3
    assert len(herded_examples(np.ones((3, 3)), np.array([0, 1, 2]), 2, random_state=0)) == 0


def test_on_a_big_pool_herding_picks_among_a_seeded_sample_of_candidates():
    points = np.random.default_rng(2).normal(size=(500, 4))
    labelled = np.arange(10)
    first = herded_examples(points, labelled, 5, sample=100, random_state=3)
    assert len(set(first.tolist())) == 5 and (first >= 10).all()
    assert np.array_equal(first, herded_examples(points, labelled, 5, sample=100, random_state=3)), "seeded"
    assert not np.array_equal(first, herded_examples(points, labelled, 5, sample=100, random_state=4))


def greedy_recomputing_every_gain(kernel, covered, k):
    """The plain greedy search: every gain recomputed at every step, ties to the lower column."""
    picked, state = [], covered.copy()
    for _ in range(k):
        gains = np.round(np.maximum(kernel - state[:, None], 0).mean(axis=0), GAIN_DECIMALS)
        gains[picked] = -1
        picked.append(int(np.argmax(gains)))
        state = np.maximum(state, kernel[:, picked[-1]])
    return picked


def test_the_lazy_greedy_search_picks_what_recomputing_every_gain_picks():
    rng = np.random.default_rng(5)
    points = rng.normal(size=(200, 3))
    kernel = rbf_kernel(points, points[:120], gamma=0.5)
    covered = rbf_kernel(points, points[150:155], gamma=0.5).max(axis=1)
    assert _lazy_greedy(kernel, covered, 15).tolist() == greedy_recomputing_every_gain(kernel, covered, 15)


def test_the_lazy_greedy_search_breaks_ties_as_the_plain_search_does():
    rng = np.random.default_rng(6)
    for _ in range(50):
        points = rng.integers(0, 3, size=(30, 2)).astype(float)  # many coinciding points: many equal gains
        kernel = rbf_kernel(points, points[:20], gamma=1.0)
        covered = np.zeros(len(points))
        assert _lazy_greedy(kernel, covered, 8).tolist() == greedy_recomputing_every_gain(kernel, covered, 8)
