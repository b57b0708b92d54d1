"""The picked initial sets: one example per cluster, the most typical one (``kmeans``) or the central one
(``coverage``), on data with known clusters."""

import numpy as np

from autoal.query.cold_start import coverage_examples, typical_examples, typicality


def clusters_with_outliers(seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [50, 0], [0, 50], [50, 50]], dtype=float)
    points = np.concatenate([c + rng.normal(0, 1, (40, 2)) for c in centres])
    blob = np.repeat(np.arange(4), 40)
    return points, blob, centres


def test_one_typical_example_per_known_cluster():
    points, blob, centres = clusters_with_outliers()
    picked = typical_examples(points, 4, random_state=0)
    assert len(picked) == 4 and len(set(picked)) == 4
    assert sorted(blob[picked]) == [0, 1, 2, 3]
    for i in picked:  # the typical member lies near its cluster's centre, not at the rim
        distances = np.linalg.norm(points[blob == blob[i]] - centres[blob[i]], axis=1)
        assert np.linalg.norm(points[i] - centres[blob[i]]) <= np.quantile(distances, 0.25)


def test_outliers_are_never_typical():
    points, _, _ = clusters_with_outliers()
    points = np.concatenate([points, [[25, 25], [200, 200]]])  # far from everything
    scores = typicality(points)
    assert scores[-1] == scores.min()
    assert scores[-2] < np.median(scores)


def test_seeded_and_bounded_by_the_pool():
    points, _, _ = clusters_with_outliers()
    first = list(typical_examples(points, 6, random_state=3))
    assert first == list(typical_examples(points, 6, random_state=3))
    assert any(list(typical_examples(points, 6, random_state=s)) != first for s in range(4, 20)), \
        "the seed decides the clustering"
    assert len(typical_examples(points[:3], 10, random_state=0)) == 3
    assert len(typical_examples(points, 0)) == 0


def test_identical_points_still_give_k_distinct_rows():
    picked = typical_examples(np.ones((12, 3)), 4, random_state=0)
    assert len(set(picked.tolist())) == 4


def test_the_coverage_pick_on_two_separated_clusters_takes_one_from_each_whatever_the_order():
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(0, 0.1, (50, 2)), rng.normal(5, 0.1, (30, 2))])
    for order_seed in range(5):
        order = np.random.default_rng(order_seed).permutation(len(points))
        picked = order[coverage_examples(points[order], 2, random_state=0)]
        assert sorted((picked >= 50).tolist()) == [False, True]
        assert picked[0] < 50, "the larger cluster first"


def test_the_coverage_pick_takes_each_cluster_s_central_member():
    points, blob, centres = clusters_with_outliers()
    picked = coverage_examples(points, 4, random_state=0)
    assert sorted(blob[picked]) == [0, 1, 2, 3]
    for i in picked:
        members = points[blob == blob[i]]
        nearest = np.argmin(np.linalg.norm(members - members.mean(axis=0), axis=1))
        assert np.array_equal(points[i], members[nearest])


def test_the_coverage_pick_gives_k_distinct_rows_when_points_coincide():
    picked = coverage_examples(np.ones((12, 3)), 4, random_state=0)
    assert len(set(picked.tolist())) == 4 and len(coverage_examples(np.ones((3, 2)), 10, random_state=0)) == 3
