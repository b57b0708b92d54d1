"""Selection: from a round's scores to the examples of its batch (lower score = picked first). No writes.

:func:`select_batch` is the whole pure step of a round:
it puts the pool's and (with relabeling) the labelled examples' scores on one list of candidates,
keeps only examples some annotator can still be asked about, and applies the batch rule
(:mod:`autoal.query.batching`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autoal.query.batching import kmeans_batch, select_lowest
from autoal.query.relabel_policy import RelabelPlan

__all__ = ["select_batch", "Scores"]


@dataclass(frozen=True)
class Scores:
    """One round's scores (lower = more worth an annotation) by example position.

    Attributes
    ----------
    pool, pool_scores : ndarray, shape (U,)
        Unlabelled examples scored this round and their scores.
    labelled, labelled_scores : ndarray, shape (N,), or labelled_scores None
        Labelled examples and their scores for another label (None: the strategy never relabels).
    """

    pool: np.ndarray
    pool_scores: np.ndarray
    labelled: np.ndarray
    labelled_scores: np.ndarray | None


def select_batch(scores: Scores, snapshot, annotators, batch_size, *, rule="topk", policy=None, embeddings_of=None,
                 candidates_factor=10, random_state=None, policy_random_state=None) -> tuple:
    """The positions of a round's batch, and facts about it for the history.

    Parameters
    ----------
    scores : Scores
        The round's scores.
    snapshot : Snapshot
        Annotations, assignments and skips: examples no annotator of ``annotators`` can be asked about
        (all labelled, skipped or already asked) are not candidates.
    annotators : list of str
        Who can be asked this round.
    batch_size : int
        Examples to pick (fewer when candidates run out).
    rule : {"topk", "kmeans"}
        The batch rule (:mod:`autoal.query.batching`); ``"kmeans"`` needs ``embeddings_of``.
    policy : RelabelPolicy, optional
        The guards on relabels (:mod:`autoal.query.relabel_policy`): examples it forces come first, and only
        the labelled examples it lets compete do; None: no relabels.
    embeddings_of : callable, optional
        ``positions -> (n, d)`` embeddings, for ``rule="kmeans"``.
    candidates_factor : float
        Shortlist size of ``"kmeans"``, in batches.
    random_state, policy_random_state : int, sequence or numpy.random.Generator
        Seed tie-breaking and k-means, and the policy's warm-up draws.

    Returns
    -------
    picked : ndarray of int
        Forced examples first, then the batch rule's picks, lowest score first.
    facts : dict
        The policy's facts (``n_forced_ties``, ``n_warmup``, ``warming_up``); empty without a policy.
    """
    planned = policy is not None and len(scores.labelled) > 0
    plan = policy.plan(scores.labelled, scores.labelled_scores, snapshot, annotators, batch_size,
                       np.random.default_rng(policy_random_state)) if planned else RelabelPlan.nothing()
    positions = np.concatenate([scores.pool, plan.competing]).astype(np.int64)
    values = np.concatenate([scores.pool_scores, plan.competing_scores]).astype(float)
    askable = snapshot.askable(positions, annotators) > 0
    positions, values = positions[askable], values[askable]
    room = max(0, int(batch_size) - len(plan.forced))
    if rule == "kmeans":
        picked = kmeans_batch(positions, values, embeddings_of, room, candidates_factor=candidates_factor,
                              random_state=random_state)
    else:
        picked = select_lowest(positions, values, room, random_state=random_state)
    picked = np.asarray(picked, dtype=np.int64)
    if len(picked) < room and len(plan.reserve):  # nothing else left to fill these places
        reserve = plan.reserve[snapshot.askable(plan.reserve, annotators) > 0]
        picked = np.concatenate([picked, reserve[: room - len(picked)]])
    return np.concatenate([plan.forced, picked]), dict(plan.facts) if planned else {}
