"""Selectors: turn scores into the ids of the next batch (lower score = picked first)."""

from __future__ import annotations

import numpy as np

__all__ = ["select_lowest"]


def select_lowest(ids, scores, batch_size, *, random_state=None):
    """Return the ``batch_size`` ids with the lowest scores, ties broken by a seeded random order.

    Parameters
    ----------
    ids : sequence, shape (U,)
        Stable example ids, aligned with ``scores``.
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
    ids = list(ids)
    if len(ids) != len(scores):
        raise ValueError(f"{len(ids)} ids but {len(scores)} scores")
    rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    tie_break = rng.random(len(scores))
    order = np.lexsort((tie_break, scores))[: max(0, int(batch_size))]
    return [ids[i] for i in order]
