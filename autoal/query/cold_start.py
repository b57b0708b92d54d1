"""Cold start: choose the first examples to label as the most typical member of each region of the pool.

Two rules. ``"kmeans"`` (:func:`typical_examples`) and ``"coverage"`` (:func:`coverage_examples`, the default with a
learner that learns from the pool graph): the member nearest the centre of each of ``k`` k-means clusters of the
graph's whitened space, so that the labels, spread over the graph, reach every region.

With few or no labels a model's uncertainty means little, and random examples cover the pool's dense
regions unevenly. :func:`typical_examples` clusters the pool's embeddings into ``k`` groups with
seeded k-means and takes, from each group, the example with the highest typicality: the inverse mean
distance to its nearest neighbours inside its group (the TypiClust rule of Hacohen et al., 2022).

On a big pool the clustering runs on a seeded sample of :data:`MAX_CANDIDATES` examples
(:func:`candidate_sample`): a million 1280-d embeddings would be 5 GB in float32, and a sample of
50,000 already holds hundreds of examples per cluster for any batch a person labels.
"""

from __future__ import annotations

import numpy as np

from autoal.common.sampling import seeded_sample
from autoal.query.kmeans import kmeans_labels

__all__ = ["INITIAL_RULES", "MAX_CANDIDATES", "candidate_sample", "coverage_examples", "COVERAGE_LABELS_PER_CLASS",
           "typical_examples", "typicality"]

#: Initial-set rules :func:`autoal.run` accepts.
INITIAL_RULES = ("random", "kmeans", "coverage")
#: ``batch="coverage-first"`` picks coverage batches (:func:`autoal.query.herding.herded_examples`) while the run has
#: fewer labelled examples than this many per class, then k-means batches of the strategy's scores.
COVERAGE_LABELS_PER_CLASS = 5
#: The cold start clusters at most this many pool examples (a seeded sample of bigger pools).
MAX_CANDIDATES = 50_000


def candidate_sample(n, *, limit=MAX_CANDIDATES, random_state=None) -> np.ndarray:
    """Sorted row indices of a seeded sample of ``limit`` of ``n`` candidates (all of them when ``n <= limit``)."""
    return seeded_sample(n, limit, random_state=random_state)


def typicality(features, n_neighbors=20) -> np.ndarray:
    """Inverse mean Euclidean distance of each row to its ``n_neighbors`` nearest other rows.

    A single row (no neighbours) gets typicality 1.0; identical rows get ``inf``.
    """
    from sklearn.neighbors import NearestNeighbors

    features = np.asarray(features, dtype=np.float32)
    n = features.shape[0]
    if n <= 1:
        return np.ones(n)
    k = min(n_neighbors, n - 1)
    distances, _ = NearestNeighbors(n_neighbors=k + 1).fit(features).kneighbors(features)
    mean = distances[:, 1:].mean(axis=1)
    with np.errstate(divide="ignore"):
        return 1.0 / mean


def typical_examples(features, k, *, n_neighbors=20, random_state=None) -> np.ndarray:
    """Row indices of the most typical example of each of ``k`` k-means clusters of ``features``.

    Parameters
    ----------
    features : array-like, shape (n, d)
        Embeddings of the candidate examples.
    k : int
        Number of examples wanted (at most ``n``; fewer when identical rows collapse clusters, then
        topped up with the most typical remaining rows).
    n_neighbors : int
        Neighbours for :func:`typicality`, counted inside each cluster.
    random_state : int, optional
        Seeds k-means.

    Returns
    -------
    ndarray of int
        Distinct row indices, one per cluster, in cluster order (largest cluster first).
    """
    features = np.asarray(features, dtype=np.float32)
    n = features.shape[0]
    k = min(int(k), n)
    if k <= 0:
        return np.zeros(0, dtype=int)
    clusters = kmeans_labels(features, k, random_state)
    typical = np.empty(n)
    for c in np.unique(clusters):
        members = np.flatnonzero(clusters == c)
        typical[members] = typicality(features[members], n_neighbors)
    sizes = np.bincount(clusters, minlength=k)
    picked = []
    for c in sorted(np.unique(clusters), key=lambda c: -sizes[c]):
        members = np.flatnonzero(clusters == c)
        picked.append(int(members[np.argmax(typical[members])]))
    if len(picked) < k:  # collapsed clusters: the most typical rows not yet picked
        rest = [i for i in np.argsort(-typicality(features, n_neighbors), kind="stable") if i not in set(picked)]
        picked += [int(i) for i in rest[: k - len(picked)]]
    return np.asarray(picked, dtype=int)


def coverage_examples(points, k, *, random_state=None) -> np.ndarray:
    """Row indices of the member nearest the centre of each of ``k`` k-means clusters of ``points`` (k-medoids
    in one pass): a set that covers the space evenly, each pick standing for its cluster.

    Measured against :func:`typical_examples` with the pool graph's learner (benchmarks/RESULTS.md, "Learning from
    the whole pool"): the typical member of a cluster sits in its densest corner, often near another cluster's
    typical one, while the central member is what Poisson learning spreads furthest from.

    Parameters
    ----------
    points : array-like, shape (n, d)
        The candidates in the space the learner links them in (the pool graph's, given by
        :meth:`autoal.learners.embedding_source.EmbeddingSource.coverage`).
    k : int
        Number wanted (at most ``n``; clusters that collapse on identical points are topped up with the rows
        nearest the overall centre not yet picked).
    random_state : int, optional
        Seeds k-means.

    Returns
    -------
    ndarray of int
        Distinct row indices, in cluster order (largest cluster first).
    """
    points = np.asarray(points, dtype=np.float64)
    k = min(int(k), len(points))
    if k <= 0:
        return np.zeros(0, dtype=int)
    clusters = kmeans_labels(points, k, random_state)
    sizes = np.bincount(clusters, minlength=k)
    picked = []
    for c in sorted(np.flatnonzero(sizes), key=lambda c: (-sizes[c], c)):
        members = np.flatnonzero(clusters == c)
        centre = points[members].mean(axis=0)
        picked.append(int(members[np.argmin(((points[members] - centre) ** 2).sum(axis=1))]))
    if len(picked) < k:  # clusters collapsed on identical points
        distance = ((points - points.mean(axis=0)) ** 2).sum(axis=1)
        taken = set(picked)
        picked += [int(i) for i in np.argsort(distance, kind="stable") if int(i) not in taken][: k - len(picked)]
    return np.asarray(picked, dtype=int)
