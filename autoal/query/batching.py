"""Batch rules: which of the scored candidates form the next batch.

- ``"topk"``: the ``batch_size`` lowest scores (:func:`select_lowest`).
- ``"kmeans"``: diversity-aware. Take the ``candidates_factor x batch_size`` lowest-scoring
  candidates, cluster their embeddings into ``batch_size`` groups with seeded k-means and take the
  lowest-scoring candidate of each group, so one batch does not spend itself on near-duplicates of
  one confusing region (a common failure of plain uncertainty batches in early rounds).
"""

from __future__ import annotations

import numpy as np

from autoal.common.checks import Interval, Real, StrOptions, check_option
from autoal.query.kmeans import kmeans_labels

__all__ = ["BATCH_RULES", "check_batch_rule", "select_lowest", "kmeans_batch"]

#: Batch rules :func:`autoal.run` accepts (``"auto"`` resolves to one of them).
BATCH_RULES = ("topk", "kmeans", "coverage-first")


def select_lowest(ids, scores, batch_size, *, random_state=None):
    """Return the ``batch_size`` ids with the lowest scores, ties broken by a seeded random order.

    Parameters
    ----------
    ids : sequence, shape (U,)
        Stable example ids (or positions), aligned with ``scores``.
    scores : array-like of float, shape (U,)
        Lower = ask first.
    batch_size : int
        How many to pick; at most ``len(ids)`` are returned.
    random_state : int or numpy.random.Generator, optional
        Seeds the tie-breaking order.

    Returns
    -------
    list
        The picked ids, lowest score first.
    """
    scores = np.asarray(scores, dtype=float)
    if len(ids) != len(scores):
        raise ValueError(f"{len(ids)} ids but {len(scores)} scores")
    rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    tie_break = rng.random(len(scores))
    k = max(0, min(int(batch_size), len(scores)))
    if k == 0:
        return []
    if k < len(scores):  # only scores up to the k-th smallest can be picked: sort just those
        cutoff = np.partition(scores, k - 1)[k - 1]
        rows = np.flatnonzero(scores <= cutoff)
    else:
        rows = np.arange(len(scores))
    order = rows[np.lexsort((tie_break[rows], scores[rows]))][:k]
    ids = ids if isinstance(ids, np.ndarray) else list(ids)
    return [ids[i] for i in order]


def check_batch_rule(batch, candidates_factor) -> None:
    """Raise InputError for an unknown batch rule or a candidates factor below 1."""
    check_option("batch", batch, StrOptions(BATCH_RULES + ("auto",)))
    check_option("candidates_factor", candidates_factor, Interval(Real, 1, None, closed="left"))


def kmeans_batch(ids, scores, embeddings_of, batch_size, *, candidates_factor=10, random_state=None) -> list:
    """Pick a diverse batch among the lowest-scoring candidates.

    Parameters
    ----------
    ids : sequence, shape (U,)
        Candidate example ids, aligned with ``scores``.
    scores : array-like of float, shape (U,)
        Lower = more worth an annotation.
    embeddings_of : callable
        ``embeddings_of(list_of_ids) -> (n, d) array``: the embeddings to cluster. Called once, with the
        shortlisted candidates only.
    batch_size : int
        Number of ids to return (fewer when there are fewer candidates).
    candidates_factor : float
        The shortlist holds ``ceil(candidates_factor * batch_size)`` lowest-scoring candidates.
    random_state : int or numpy.random.Generator, optional
        Seeds tie-breaking and k-means.

    Returns
    -------
    list
        Distinct ids, lowest score first: the lowest-scoring member of each k-means cluster, topped up
        with the next-lowest shortlisted candidates when clusters collapse (identical embeddings).
    """
    rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    batch_size = max(0, int(batch_size))
    n_short = int(np.ceil(candidates_factor * batch_size))
    shortlist = select_lowest(ids, scores, n_short, random_state=rng)
    if len(shortlist) <= batch_size:
        return shortlist  # fewer candidates than the batch: all of them, nothing to choose
    features = np.asarray(embeddings_of(shortlist), dtype=np.float64)  # sklearn's k-means is 2x slower on float32 (upcasts)
    if features.shape[0] != len(shortlist):
        raise ValueError(f"embeddings_of returned {features.shape[0]} rows for {len(shortlist)} ids")
    clusters = kmeans_labels(features, batch_size, int(rng.integers(2**31 - 1)))
    rank = {i: k for k, i in enumerate(shortlist)}  # shortlist order = score order with seeded ties
    best = {}
    for i, c in zip(shortlist, clusters):
        if c not in best or rank[i] < rank[best[c]]:
            best[c] = i
    picked = set(best.values())
    picked |= set([i for i in shortlist if i not in picked][: batch_size - len(picked)])
    return sorted(picked, key=rank.get)
