"""Consensus labels, their quality, and annotator quality from several annotators' labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Consensus", "consensus_labels", "majority_vote"]


@dataclass
class Consensus:
    """Consensus over N labelled examples and M annotators.

    Attributes
    ----------
    labels : ndarray of int, shape (N,)
        Consensus class index per example.
    quality : ndarray of float, shape (N,)
        Confidence in each consensus label, in [0, 1] (1 for a single label under majority vote).
    annotator_quality : Series
        Estimated quality per annotator (index: annotator names); NaN when it cannot be estimated.
    method : str
        ``"majority_vote"`` or ``"crowdlab"`` (cleanlab's ``get_label_quality_multiannotator``).
    """

    labels: np.ndarray
    quality: np.ndarray
    annotator_quality: pd.Series
    method: str


def majority_vote(labels_multiannotator) -> tuple[np.ndarray, np.ndarray]:
    """Most frequent label per row and the share of votes it got.

    The one tie rule of autoal (fold models, cross-validation, consensus and exports all use it): among
    tied classes, the class with the fewest labels in the whole matrix (cleanlab's own tie-break without
    probabilities, against class imbalance), then the lowest class index. Deterministic.

    Parameters
    ----------
    labels_multiannotator : array, shape (N, M)
        Class indices, NaN where missing; every row has at least one label.

    Returns
    -------
    votes : ndarray of int, shape (N,)
    agreement : ndarray of float, shape (N,)
        Share of the row's labels that are its vote.
    """
    labels = np.asarray(labels_multiannotator, dtype=float)
    k = int(np.nanmax(labels)) + 1 if labels.size else 0
    counts = np.stack([(labels == c).sum(axis=1) for c in range(k)], axis=1) if k else np.zeros((len(labels), 0))
    ranked = counts.astype(float)
    if k:  # a fraction below 1 that is larger for rarer classes (ties in the total: the lower index)
        total = counts.sum(axis=0)
        ranked -= (np.argsort(np.argsort(total, kind="stable"), kind="stable") / (k + 1))[None, :]
    winner = ranked.argmax(axis=1)
    agreement = counts.max(axis=1) / np.maximum((~np.isnan(labels)).sum(axis=1), 1)
    return winner.astype(int), agreement.astype(float)


def consensus_labels(labels_multiannotator, pred_probs, annotators, *, random_state=0, memo=None) -> Consensus:
    """Consensus labels for a run's labelled examples.

    With at most one label per example (or one annotator), each example's label is its consensus.
    Once some examples have several labels, cleanlab's CROWDLAB (``get_label_quality_multiannotator``
    with ``calibrate_probs=True``, through :mod:`autoal.multiannotator.crowdlab`, which gives the same results faster)
    gives consensus, per-example quality and per-annotator quality; it is fed out-of-sample
    ``pred_probs`` for the labelled examples. Annotators with no label yet are left
    out of its input (cleanlab rejects all-NaN columns) and get NaN quality.

    Parameters
    ----------
    labels_multiannotator : array, shape (N, M)
        Class indices, NaN where missing; every row has at least one label.
    pred_probs : array, shape (N, K)
        Out-of-sample predicted probabilities of the same examples.
    annotators : sequence of M names
    random_state : int
        Seeds the ties cleanlab breaks at random (:mod:`autoal.multiannotator.crowdlab`).
    memo : CrowdlabMemo, optional
        The run's CROWDLAB memo.
    """
    labels = np.asarray(labels_multiannotator, dtype=float)
    active = ~np.isnan(labels).all(axis=0)
    several = (~np.isnan(labels)).sum(axis=1) >= 2
    vote, agreement = majority_vote(labels)
    quality = pd.Series(np.nan, index=list(annotators), dtype=float)
    if active.sum() < 2 or not several.any():
        return Consensus(vote, agreement, quality, "majority_vote")
    from autoal.multiannotator.crowdlab import multiannotator_quality

    result = multiannotator_quality(labels[:, active], np.asarray(pred_probs, dtype=float), random_state=random_state,
                                    memo=memo)
    quality.update(pd.Series(result.annotator_quality, index=[a for a, on in zip(annotators, active) if on]))
    return Consensus(result.consensus_label.astype(int), np.array(result.consensus_quality, dtype=float), quality, "crowdlab")
