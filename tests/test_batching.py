"""k-means batches: size, distinctness, determinism, degenerate inputs, and diversity over plain top-k."""

import numpy as np
import pytest

from autoal.query.batching import check_batch_rule, kmeans_batch
from autoal.errors import InputError
from autoal.query.batching import select_lowest


def blobs(n_per_blob=30, n_blobs=5, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 20, (n_blobs, 4))
    features = np.concatenate([c + rng.normal(0, 0.5, (n_per_blob, 4)) for c in centres])
    blob = np.repeat(np.arange(n_blobs), n_per_blob)
    return features, blob


def lookup(features, ids):
    index = {i: k for k, i in enumerate(ids)}
    return lambda chosen: features[[index[i] for i in chosen]]


def test_batch_has_the_right_size_distinct_ids_from_the_shortlist():
    features, _ = blobs()
    ids = [f"x{k}" for k in range(len(features))]
    scores = np.random.default_rng(1).random(len(ids))
    batch = kmeans_batch(ids, scores, lookup(features, ids), 10, candidates_factor=3, random_state=0)
    assert len(batch) == 10 and len(set(batch)) == 10
    shortlist = set(select_lowest(ids, scores, 30, random_state=np.random.default_rng(0)))
    assert set(batch) <= shortlist


def test_kmeans_spreads_the_batch_over_clusters_where_topk_does_not():
    features, blob = blobs()
    ids = list(range(len(features)))
    scores = np.where(blob == 0, 0.1, 0.5) + np.random.default_rng(2).random(len(ids)) * 0.01  # blob 0 most uncertain
    topk = select_lowest(ids, scores, 5, random_state=0)
    diverse = kmeans_batch(ids, scores, lookup(features, ids), 5, candidates_factor=30, random_state=0)
    assert len(set(blob[topk])) == 1
    assert len(set(blob[diverse])) == 5


def test_each_pick_is_the_lowest_score_of_its_cluster():
    features, blob = blobs(n_per_blob=10, n_blobs=3)
    ids = list(range(len(features)))
    scores = np.random.default_rng(3).random(len(ids))
    batch = kmeans_batch(ids, scores, lookup(features, ids), 3, candidates_factor=10, random_state=0)
    expected = {int(np.flatnonzero(blob == b)[np.argmin(scores[blob == b])]) for b in range(3)}
    assert set(batch) == expected
    assert [scores[i] for i in batch] == sorted(scores[i] for i in batch)


def test_same_seed_same_batch_other_seed_may_differ():
    features, _ = blobs()
    ids = list(range(len(features)))
    scores = np.full(len(ids), 0.5)  # all ties: the seed decides
    a = kmeans_batch(ids, scores, lookup(features, ids), 8, random_state=4)
    b = kmeans_batch(ids, scores, lookup(features, ids), 8, random_state=4)
    c = kmeans_batch(ids, scores, lookup(features, ids), 8, random_state=5)
    assert a == b
    assert a != c


def test_fewer_candidates_than_the_batch_returns_all_without_embedding():
    called = []
    batch = kmeans_batch(["a", "b", "c"], [0.3, 0.1, 0.2], lambda ids: called.append(ids), 5, random_state=0)
    assert batch == ["b", "c", "a"]
    assert called == []


def test_identical_embeddings_still_fill_the_batch_by_score():
    ids = list(range(40))
    scores = np.linspace(0, 1, 40)
    batch = kmeans_batch(ids, scores, lambda chosen: np.ones((len(chosen), 3)), 6, candidates_factor=4, random_state=0)
    assert batch == [0, 1, 2, 3, 4, 5]


def test_one_class_pool_works():
    features, _ = blobs(n_per_blob=50, n_blobs=1)
    ids = list(range(50))
    batch = kmeans_batch(ids, np.zeros(50), lookup(features, ids), 7, random_state=0)
    assert len(set(batch)) == 7


def test_features_of_must_return_one_row_per_id():
    with pytest.raises(ValueError, match="rows for"):
        kmeans_batch(list(range(30)), np.zeros(30), lambda chosen: np.zeros((2, 3)), 3, random_state=0)


@pytest.mark.parametrize("batch, factor, message", [("diverse", 10, "batch must be one of .*, got 'diverse'"),
                                                     ("kmeans", 0.5, "candidates_factor"),
                                                     ("kmeans", "10", "candidates_factor")])
def test_bad_batch_arguments_are_named(batch, factor, message):
    with pytest.raises(InputError, match=message):
        check_batch_rule(batch, factor)
