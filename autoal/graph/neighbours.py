"""Nearest-neighbour search in the graph's space: exact up to :data:`EXACT_LIMIT` points, approximate beyond.

Chosen by measurement (64-d unit vectors, 15 neighbours of every point; the figures are in benchmarks/RESULTS.md,
"Round time and the graph at scale"): scikit-learn's exact brute-force search grows with the square of the pool;
faiss's HNSW index (``faiss-cpu``, a binary wheel: nothing to compile) took about as long at 100,000 points, with
a high recall on real embeddings, and grows almost linearly, which keeps a million points within minutes. hnswlib
was faster but ships only as source to compile; pynndescent was slower, with a lower recall, and compiles with
numba on first use.
"""

from __future__ import annotations

import numpy as np

from autoal.common.checks import StrOptions, check_option

__all__ = ["NeighbourIndex", "SEARCH_METHODS", "EXACT_LIMIT"]

#: Values of the search ``method``.
SEARCH_METHODS = ("auto", "exact", "approximate")
#: ``method="auto"`` searches exactly up to this many points, approximately beyond.
EXACT_LIMIT = 50_000
#: HNSW settings: links per node, candidates while building and while searching.
HNSW_LINKS, HNSW_BUILD, HNSW_SEARCH = 16, 100, 64


class NeighbourIndex:
    """The points of a pool, searchable for the nearest ones to any vectors.

    Parameters
    ----------
    points : ndarray, shape (n, d)
        float32 vectors (the graph's space: unit rows).
    method : {"auto", "exact", "approximate"}
        Exact search (scikit-learn, brute force), faiss's HNSW, or exact up to :data:`EXACT_LIMIT` points.
    """

    def __init__(self, points, *, method="auto"):
        check_option("neighbour search method", method, StrOptions(SEARCH_METHODS))
        self.points = np.ascontiguousarray(points, dtype=np.float32)
        self.method = method if method != "auto" else ("exact" if len(self.points) <= EXACT_LIMIT else "approximate")
        self._index = None

    def _built(self):
        if self._index is None:
            if self.method == "exact":
                from sklearn.neighbors import NearestNeighbors

                self._index = NearestNeighbors(algorithm="brute").fit(self.points)
            else:
                import faiss

                index = faiss.IndexHNSWFlat(self.points.shape[1], HNSW_LINKS)
                index.hnsw.efConstruction = HNSW_BUILD
                index.add(self.points)
                index.hnsw.efSearch = HNSW_SEARCH
                self._index = index
        return self._index

    def query(self, vectors, k: int) -> tuple:
        """The ``k`` nearest points to each of ``vectors``: ``(distances, indices)``, each shape (len(vectors), k),
        nearest first (Euclidean distances)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        k = min(int(k), len(self.points))
        index = self._built()
        if self.method == "exact":
            distances, indices = index.kneighbors(vectors, n_neighbors=k)
            return distances.astype(np.float32), indices.astype(np.int64)
        squared, indices = index.search(vectors, k)
        distances = np.sqrt(np.maximum(squared, 0))
        missing = indices < 0  # HNSW found fewer than k: such slots get no weight (infinitely far)
        distances[missing], indices[missing] = np.inf, 0
        return distances, indices.astype(np.int64)

    def neighbours_of_points(self, k: int) -> tuple:
        """Each point's ``k`` nearest other points: ``(distances, indices)``, shape (n, k). A point is left out of
        its own list even when duplicates tie with it."""
        n = len(self.points)
        distances, indices = self.query(self.points, min(k + 1, n))
        own = indices == np.arange(n)[:, None]
        # drop the point itself where found, else the farthest hit, keeping k per row in order
        drop = np.where(own.any(axis=1), own.argmax(axis=1), indices.shape[1] - 1)
        keep = np.ones(indices.shape, dtype=bool)
        keep[np.arange(n), drop] = False
        width = indices.shape[1] - 1
        return distances[keep].reshape(n, width), indices[keep].reshape(n, width)
