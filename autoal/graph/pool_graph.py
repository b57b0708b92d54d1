"""A k-nearest-neighbour graph of a pool's vectors, kept on disk with the run and reused when the pool is the same.

Nodes are the pool's examples in position order; an edge joins each example to its ``k`` nearest neighbours in
the :class:`~autoal.graph.space.WhitenedSpace` (either direction), weighted by a Gaussian of the distance scaled
by the example's distance to its ``k``-th neighbour (self-tuning, Zelnik-Manor and Perona 2004, as in Calder et
al.'s Poisson learning), so dense and sparse regions are linked alike. Vectors outside the pool (a holdout, new
images) never enter the graph: :meth:`PoolGraph.extend` reads them through their nearest pool examples.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from autoal.common.checks import POSITIVE_INT, StrOptions, check_option
from autoal.common.files import write_atomic, write_json_atomic
from autoal.errors import InputError
from autoal.graph.neighbours import NeighbourIndex, SEARCH_METHODS
from autoal.graph.space import WhitenedSpace

__all__ = ["PoolGraph", "GRAPH_FORMAT", "DEFAULT_NEIGHBOURS", "pool_fingerprint", "check_graph_options",
           "neighbours_for"]

#: Version of a saved graph's files.
GRAPH_FORMAT = 1
ARRAYS_FILE, META_FILE = "graph.npz", "graph.json"
#: Answers of :meth:`PoolGraph.extend` kept (the holdout, the stop set and a batch of new images are each asked
#: again every round).
EXTEND_MEMORY = 4
#: Neighbours of each example with ``graph_neighbours="auto"`` (fewer in a pool of 15 examples or less).
DEFAULT_NEIGHBOURS = 15


def check_graph_options(n_neighbours, dims, method="auto") -> None:
    """Raise InputError for a neighbour count (or ``"auto"``) or dimension that is not a positive integer, or an
    unknown search."""
    check_option("graph_neighbours", n_neighbours, POSITIVE_INT, StrOptions(["auto"]))
    check_option("graph_dims", dims, POSITIVE_INT)
    check_option("graph_search", method, StrOptions(SEARCH_METHODS))


def neighbours_for(n_neighbours, n_examples: int) -> int:
    """The neighbour count for a pool of ``n_examples``: ``"auto"`` is :data:`DEFAULT_NEIGHBOURS`, at most
    ``n_examples - 1``; a number is kept (:meth:`PoolGraph.build` refuses one the pool cannot hold)."""
    return min(DEFAULT_NEIGHBOURS, n_examples - 1) if n_neighbours == "auto" else int(n_neighbours)


def pool_fingerprint(ids, keys, settings: dict) -> str:
    """A digest naming one pool and graph recipe: the examples' ids and image keys in order, and ``settings``."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for part in (ids, keys):
        digest.update(b"\x00".join(str(x).encode() for x in part))
        digest.update(b"\x01")
    return digest.hexdigest()


def _gaussian(distances, scale) -> np.ndarray:
    """``exp(-4 d^2 / scale^2)``: 1 at distance 0, e^-4 at the scale."""
    return np.exp(-4.0 * (distances / np.maximum(scale, 1e-12)) ** 2)


@dataclass
class PoolGraph:
    """The pool's graph and what reading new vectors through it needs.

    Attributes
    ----------
    space : WhitenedSpace
        Embedding vectors -> the graph's space.
    points : ndarray, shape (n, dims)
        The pool's vectors in that space (float32).
    weights : scipy.sparse.csr_matrix, shape (n, n)
        Symmetric edge weights, zero diagonal.
    n_neighbours : int
        Neighbours per example.
    fingerprint : str
        :func:`pool_fingerprint` of the pool and settings it was built for.
    method : str
        The neighbour search (:class:`~autoal.graph.neighbours.NeighbourIndex`).
    """

    space: WhitenedSpace
    points: np.ndarray
    weights: sp.csr_matrix
    n_neighbours: int
    fingerprint: str
    method: str = "auto"

    def __post_init__(self):
        self._index = None
        self._normalised = None
        self._extended = {}  # digest of queried vectors -> extend()'s answer (the holdout is asked every round)

    def __getstate__(self):  # a copy for another process (Ray) rebuilds its search index on first use
        return {**self.__dict__, "_index": None, "_normalised": None, "_extended": {}}

    @property
    def normalised(self) -> tuple:
        """:func:`autoal.graph.poisson.normalised_weights` of the edges, computed once."""
        if self._normalised is None:
            from autoal.graph.poisson import normalised_weights

            self._normalised = normalised_weights(self.weights)
        return self._normalised

    @classmethod
    def build(cls, vectors, *, n_neighbours="auto", dims=64, method="auto", fingerprint="", random_state=0) -> "PoolGraph":
        """The graph of ``vectors`` (n, d): whitened to ``dims``, each joined to its ``n_neighbours`` nearest.

        Raises
        ------
        InputError
            When ``n_neighbours`` is not below the number of vectors (a graph needs other examples to link).
        """
        check_graph_options(n_neighbours, dims, method)
        n = len(vectors)
        n_neighbours = neighbours_for(n_neighbours, n)
        if n_neighbours >= n or n_neighbours < 1:
            raise InputError(f"graph_neighbours={n_neighbours} needs a pool of more than {n_neighbours} examples, "
                             f"and this one has {n}; pass a smaller graph_neighbours (1 to {max(1, n - 1)})")
        space = WhitenedSpace.fit(vectors, dims, random_state=random_state)
        points = space.transform(vectors)
        graph = cls(space, points, sp.csr_matrix((n, n)), int(n_neighbours), fingerprint, method)
        distances, indices = graph.index.neighbours_of_points(n_neighbours)
        weights = _gaussian(distances, distances[:, -1:])
        directed = sp.csr_matrix((weights.ravel(), (np.repeat(np.arange(n), indices.shape[1]), indices.ravel())),
                                 shape=(n, n))
        graph.weights = ((directed + directed.T) / 2).tocsr()
        graph.weights.setdiag(0)
        graph.weights.eliminate_zeros()
        return graph

    @property
    def index(self) -> NeighbourIndex:
        """The pool's points, searchable (built on first use)."""
        if self._index is None:
            self._index = NeighbourIndex(self.points, method=self.method)
        return self._index

    def __len__(self) -> int:
        return len(self.points)

    def extend(self, vectors) -> tuple:
        """How vectors outside the graph read it: their ``n_neighbours`` nearest pool examples and weights.

        Returns
        -------
        indices : ndarray of int, shape (len(vectors), k)
        weights : ndarray of float, shape (len(vectors), k)
            The same Gaussian as the graph's edges (scaled by the distance to the k-th neighbour), each row
            summing to 1.
        """
        vectors = np.ascontiguousarray(vectors)
        digest = hashlib.sha256(vectors.view(np.uint8).ravel()).hexdigest() + str(vectors.shape)
        if digest in self._extended:  # the same vectors as an earlier call: the same answer, not searched again
            return self._extended[digest]
        distances, indices = self.index.query(self.space.transform(vectors), self.n_neighbours)
        weights = _gaussian(distances, distances[:, -1:])
        weights[~np.isfinite(weights)] = 0.0
        total = weights.sum(axis=1, keepdims=True)
        weights = np.where(total > 0, weights / np.where(total > 0, total, 1.0), 1.0 / weights.shape[1])
        if len(self._extended) >= EXTEND_MEMORY:
            self._extended.pop(next(iter(self._extended)))
        self._extended[digest] = (indices, weights)
        return indices, weights

    # -- on disk -----------------------------------------------------------------------------------

    def save(self, folder) -> Path:
        """Write the graph to ``folder`` (``graph.npz``, plain arrays, and ``graph.json``); returns the folder."""
        import io

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, points=self.points, data=self.weights.data, indices=self.weights.indices,
                 indptr=self.weights.indptr, **self.space.to_arrays())
        write_atomic(folder / ARRAYS_FILE, buffer.getvalue())
        write_json_atomic(folder / META_FILE, {"format": GRAPH_FORMAT, "fingerprint": self.fingerprint,
                                               "n_neighbours": self.n_neighbours, "method": self.method,
                                               "nodes": len(self), "edges": int(self.weights.nnz)})
        return folder

    @classmethod
    def load(cls, folder, fingerprint: str):
        """The graph saved in ``folder`` when it was built for ``fingerprint``; None when there is none, it was
        built for another pool or recipe, or its files are unreadable (a graph is rebuilt, never trusted half-read)."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / META_FILE).read_text())
            if meta.get("format") != GRAPH_FORMAT or meta.get("fingerprint") != fingerprint:
                return None
            with np.load(folder / ARRAYS_FILE, allow_pickle=False) as arrays:
                n = len(arrays["points"])
                weights = sp.csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]), shape=(n, n))
                return cls(WhitenedSpace.from_arrays(arrays), arrays["points"], weights, int(meta["n_neighbours"]),
                           fingerprint, meta.get("method", "auto"))
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):
            return None
