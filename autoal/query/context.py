"""What a strategy may know besides probabilities: the pool's positions, the labels so far, and their features.

A strategy that takes the keyword argument ``context`` (:func:`autoal.query.strategies.takes_keyword`) receives a
:class:`PoolContext` each round: coverage rules (how well the labels so far cover the pool) and peers' strategies
that pick from feature vectors need it; uncertainty strategies do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["PoolContext"]


@dataclass(frozen=True)
class PoolContext:
    """One round's pool as a strategy may see it.

    Attributes
    ----------
    pool : ndarray of int, shape (U,)
        Positions of the scored unlabelled examples, in the order of ``pred_probs_unlabeled``.
    labelled : ndarray of int, shape (N,)
        Positions of the labelled examples, in the order of ``labels_multiannotator``'s rows.
    labels : ndarray of int, shape (N,)
        Their labels so far (majority vote; class indices).
    batch_size : int
        Examples the round asks for.
    embeddings_of : callable
        ``positions -> (n, d)`` float32 feature vectors (the run's diversity features: the learner's embeddings).
    n_classes : int
    """

    pool: np.ndarray
    labelled: np.ndarray
    labels: np.ndarray
    batch_size: int
    embeddings_of: Callable
    n_classes: int
