"""Kernel herding for coverage batches: the examples that add most to how well the labelled set covers the pool.

MaxHerding (Bae et al., ECCV 2024) picks, one at a time, the candidate ``c`` that most raises the pool's coverage
``mean_i max_{s in S} k(x_i, x_s)`` (``S``: the labelled examples and those picked so far; ``k``: a Gaussian kernel).
The objective is monotone and submodular, so the greedy pick is within ``1 - 1/e`` of the best set, and a
candidate's gain can only shrink as the set grows: the lazy greedy search below (Minoux 1978) recomputes a gain only
when it reaches the top of the queue.

Why not scikit-activeml's ``MaxHerding`` (a benchmark dependency, measured beside this one in benchmarks/RESULTS.md):
it computes the kernel between every pair of candidates (a 100,000-example pool would need 80 GB) and every gain at
every step. Here the candidates and the points whose coverage counts are seeded samples of at most
:data:`HERDING_SAMPLE` each (a few hundred per cluster for any batch a person labels), and the labelled examples'
coverage is read from all of them.
"""

from __future__ import annotations

import heapq

import numpy as np
from sklearn.metrics.pairwise import rbf_kernel

from autoal.common.sampling import seeded_sample

__all__ = ["herded_examples", "COVERAGE_GAMMA", "HERDING_SAMPLE"]

#: The Gaussian kernel's ``gamma`` in the pool graph's space (unit-length whitened vectors: squared distances 0-4),
#: ``exp(-gamma * |x - y| ** 2)``. 1 was measured (benchmarks/RESULTS.md, "Beside the peers").
COVERAGE_GAMMA = 1.0
#: At most this many candidates, and this many points whose coverage counts (seeded samples).
HERDING_SAMPLE = 3000
#: Gains equal to this many decimal places are ties.
GAIN_DECIMALS = 12


def herded_examples(points, labelled, k, *, gamma=COVERAGE_GAMMA, sample=HERDING_SAMPLE,
                    random_state=None) -> np.ndarray:
    """Row indices of ``k`` unlabelled rows of ``points`` picked by kernel herding, in the order picked.

    Parameters
    ----------
    points : array-like, shape (n, d)
        Labelled and unlabelled rows in one space (the pool graph's).
    labelled : array of int
        Rows already labelled: never returned; the coverage they give counts from the start.
    k : int
        Number wanted (at most the unlabelled rows, and at most ``sample`` of them).
    gamma : float
        The Gaussian kernel's width parameter.
    sample : int
        The most candidates, and the most points whose coverage counts (seeded samples).
    random_state : int, optional
        Seeds both samples.
    """
    points = np.asarray(points, dtype=np.float64)
    labelled = np.asarray(labelled, dtype=np.int64)
    free = np.setdiff1d(np.arange(len(points)), labelled)
    if int(k) <= 0 or len(free) == 0:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(random_state)
    candidates = free[seeded_sample(len(free), sample, random_state=rng)]
    counted = seeded_sample(len(points), sample, random_state=rng)
    kernel = rbf_kernel(points[counted], points[candidates], gamma=gamma)  # (counted, candidates)
    covered = (rbf_kernel(points[counted], points[labelled], gamma=gamma).max(axis=1) if len(labelled)
               else np.zeros(len(counted)))
    return candidates[_lazy_greedy(kernel, covered, min(int(k), len(candidates)))]


def _lazy_greedy(kernel, covered, k) -> np.ndarray:
    """Columns of ``kernel`` picked greedily by the gain ``mean(max(kernel[:, j] - covered, 0))``; a gain is
    recomputed only when its stale value tops the queue (gains never grow), ties to the lower column. Gains are
    rounded to :data:`GAIN_DECIMALS` places, so that a tie does not depend on the order of a sum's terms."""
    covered = covered.copy()
    gains = np.round(np.maximum(kernel - covered[:, None], 0.0).mean(axis=0), GAIN_DECIMALS)
    queue = [(-gain, j) for j, gain in enumerate(gains)]
    heapq.heapify(queue)
    picked = []
    while len(picked) < k:
        _, j = heapq.heappop(queue)
        gain = round(float(np.maximum(kernel[:, j] - covered, 0.0).mean()), GAIN_DECIMALS)
        if queue and (-gain, j) > queue[0]:
            heapq.heappush(queue, (-gain, j))  # stale: back in the queue at its current gain
            continue
        picked.append(j)
        covered = np.maximum(covered, kernel[:, j])
    return np.asarray(picked, dtype=np.int64)
