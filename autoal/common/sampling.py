"""Seeded samples of big collections: the rows a step measures when measuring all of them would cost too much."""

from __future__ import annotations

import numpy as np

__all__ = ["seeded_sample"]


def seeded_sample(n, limit, *, random_state=None) -> np.ndarray:
    """Sorted row indices of a seeded sample of ``limit`` of ``n`` rows (all of them when ``n <= limit``)."""
    if n <= limit:
        return np.arange(n)
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(n, size=limit, replace=False))
