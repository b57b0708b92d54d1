"""The pool graph: its shape, bad options, saving and loading, the search methods, reading new vectors."""

import numpy as np
import pytest

from autoal.errors import InputError
from autoal.graph.neighbours import NeighbourIndex
from autoal.graph.pool_graph import PoolGraph
from autoal.graph.space import WhitenedSpace


def blobs(n=200, d=16, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (5, d))
    return (centres[rng.integers(0, 5, n)] + rng.normal(size=(n, d))).astype(np.float32)


def test_the_graph_is_symmetric_with_no_loops_and_every_node_linked():
    graph = PoolGraph.build(blobs(), n_neighbours=10, dims=8)
    weights = graph.weights
    assert weights.shape == (200, 200)
    assert abs(weights - weights.T).max() < 1e-12
    assert weights.diagonal().sum() == 0
    assert (np.diff(weights.indptr) >= 10).all(), "each node keeps its own 10 neighbours"
    assert weights.data.min() > 0 and weights.data.max() <= 1


def test_the_whitened_space_gives_unit_vectors_with_equal_spread_per_direction():
    x = blobs(2000, 32)
    space = WhitenedSpace.fit(x, 8)
    z = ((x - space.mean) / space.scale - space.centre) @ space.projection
    assert np.allclose(z.std(axis=0), 1, atol=0.05)
    assert np.allclose(np.linalg.norm(space.transform(x), axis=1), 1, atol=1e-5)


@pytest.mark.parametrize("options, message", [
    ({"n_neighbours": 0}, r"graph_neighbours must be an integer >= 1 or 'auto', got 0$"),
    ({"n_neighbours": 2.5}, r"graph_neighbours must be an integer >= 1 or 'auto', got 2.5 \(a float\)$"),
    ({"n_neighbours": "many"}, r"graph_neighbours must be an integer >= 1 or 'auto', got 'many'$"),
    ({"n_neighbours": 200}, r"graph_neighbours=200 needs a pool of more than 200 examples, and this one has 200; "
                            r"pass a smaller graph_neighbours \(1 to 199\)"),
    ({"dims": 0}, r"graph_dims must be an integer >= 1, got 0$"),
    ({"method": "annoy"}, r"graph_search must be one of 'auto', 'exact', 'approximate', got 'annoy'$"),
])
def test_bad_options_are_refused_naming_the_valid_values(options, message):
    with pytest.raises(InputError, match=message):
        PoolGraph.build(blobs(), **{"n_neighbours": 10, "dims": 8, **options})


def test_auto_neighbours_are_fifteen_or_fewer_in_a_small_pool():
    assert PoolGraph.build(blobs(), dims=8).n_neighbours == 15
    assert PoolGraph.build(blobs(10), dims=4).n_neighbours == 9


def test_a_saved_graph_loads_for_its_own_pool_only(tmp_path):
    graph = PoolGraph.build(blobs(), n_neighbours=10, dims=8, fingerprint="pool-a")
    graph.save(tmp_path / "graph")
    again = PoolGraph.load(tmp_path / "graph", "pool-a")
    assert (again.weights != graph.weights).nnz == 0
    assert np.array_equal(again.points, graph.points)
    assert np.array_equal(again.space.projection, graph.space.projection)
    assert PoolGraph.load(tmp_path / "graph", "pool-b") is None, "another pool's graph is not reused"
    assert PoolGraph.load(tmp_path / "nothing-here", "pool-a") is None


def test_a_damaged_graph_file_is_not_trusted(tmp_path):
    PoolGraph.build(blobs(), n_neighbours=10, dims=8, fingerprint="pool-a").save(tmp_path)
    arrays = tmp_path / "graph.npz"
    arrays.write_bytes(arrays.read_bytes()[:200])
    assert PoolGraph.load(tmp_path, "pool-a") is None


def test_new_vectors_read_the_graph_through_their_nearest_pool_examples():
    x = blobs()
    graph = PoolGraph.build(x, n_neighbours=10, dims=8)
    indices, weights = graph.extend(x[:5] + 1e-4)
    assert indices.shape == weights.shape == (5, 10)
    assert np.allclose(weights.sum(axis=1), 1)
    assert (indices[:, 0] == np.arange(5)).all(), "the nearest pool example of a near copy is the original"


def test_approximate_search_finds_nearly_the_same_neighbours_as_exact_search():
    points = WhitenedSpace.fit(blobs(3000, 32), 16).transform(blobs(3000, 32))
    _, exact = NeighbourIndex(points, method="exact").neighbours_of_points(15)
    _, approximate = NeighbourIndex(points, method="approximate").neighbours_of_points(15)
    recall = np.mean([len(set(a) & set(b)) / 15 for a, b in zip(exact, approximate)])
    assert recall >= 0.9
    assert not (exact == np.arange(3000)[:, None]).any() and not (approximate == np.arange(3000)[:, None]).any()


def test_a_graph_on_approximate_search_is_a_valid_graph_too():
    graph = PoolGraph.build(blobs(500), n_neighbours=10, dims=8, method="approximate")
    assert graph.index.method == "approximate"
    assert abs(graph.weights - graph.weights.T).max() < 1e-12 and (np.diff(graph.weights.indptr) >= 10).all()
