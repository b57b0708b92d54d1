"""When a batch may spend annotations on labelled examples, and how many: the guards around ActiveLab's relabels.

cleanlab's ActiveLab weighs the model against the annotators only from examples with two or more
labels; with none, every weight is 1 and an example whose single label the (weak) model disagrees
with scores below every unlabelled one, so a whole batch goes to second opinions on the initial set.
:class:`RelabelPolicy` holds the rules applied before the batch rule:

- **warm-up** (off by default: measured, it lowered the area under the learning curve, benchmarks/RESULTS.md,
  "Several annotators: accuracy against annotations"): until ``min_multi_labelled`` examples have two or more
  labels, relabel scores are not used; instead ``warmup_share`` of each batch goes to second labels of
  single-labelled examples drawn at random (an unbiased sample for cleanlab's estimate, as the reference benchmarks'
  initial sets have), besides any ties. With K-fold out-of-sample probabilities (``oos="cross_val"``) the relabel
  scores of the first rounds are on the pool's scale without it;
- **ties first**: an example whose labels are split evenly between its top classes gets another label
  before anything else (it has no consensus to score);
- **caps**: at most ``max_labels`` labels per example and at most ``max_share`` of a batch on relabels.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from autoal.common.checks import POSITIVE_INT, PROBABILITY, Integral, Interval, check_option
from autoal.errors import InputError

__all__ = ["RelabelPolicy", "make_relabel_policy", "tied_examples"]


@dataclass(frozen=True)
class RelabelPolicy:
    """Guards on relabeling; see the module docstring.

    Parameters
    ----------
    min_multi_labelled : int
        Examples with two or more labels needed before relabel scores compete with new examples (0:
        from the start, the default).
    warmup_share : float
        Share of a batch spent on random second labels during the warm-up, in [0, 1].
    max_labels : int, optional
        Most labels one example may get (None: one per annotator).
    max_share : float
        Most of a batch that may go to relabels (forced ties and warm-up included), in [0, 1].
    ties_first : bool
        Give tied examples another label before anything else.
    """

    min_multi_labelled: int = 0
    warmup_share: float = 0.1
    max_labels: int | None = None
    max_share: float = 1.0
    ties_first: bool = True

    def __post_init__(self):
        for name in ("warmup_share", "max_share"):
            check_option(f"relabel {name}", getattr(self, name), PROBABILITY)
        check_option("relabel min_multi_labelled", self.min_multi_labelled, Interval(Integral, 0, None, closed="left"))
        check_option("relabel max_labels", self.max_labels, POSITIVE_INT, None)

    def to_dict(self) -> dict:
        """The settings as a plain dict (saved with the run)."""
        return asdict(self)

    def plan(self, labelled, labelled_scores, snapshot, annotators, batch_size, rng) -> "RelabelPlan":
        """Which labelled examples the batch must take first, and which may compete with their scores.

        Parameters
        ----------
        labelled : ndarray of int, shape (N,)
            Labelled example positions.
        labelled_scores : ndarray, shape (N,), or None
            The strategy's relabel scores (None: the strategy does not relabel; nothing is forced or competes).
        snapshot : Snapshot
            Annotations, skips and open assignments.
        annotators : list of str
            Who can be asked.
        batch_size : int
        rng : numpy.random.Generator

        Returns
        -------
        RelabelPlan
        """
        labelled = np.asarray(labelled, dtype=np.int64)
        if labelled_scores is None:  # the strategy never asks for another label
            return RelabelPlan.nothing()
        counts = snapshot.counts[labelled]
        limit = self.max_labels if self.max_labels is not None else len(annotators)
        eligible = (snapshot.askable(labelled, annotators) > 0) & (counts < limit)
        budget = int(math.floor(self.max_share * batch_size + 1e-9))
        ties = np.zeros(len(labelled), dtype=bool)
        if self.ties_first:
            ties = np.isin(labelled, tied_examples(snapshot)) & eligible
        order = np.flatnonzero(ties)
        if len(order):
            order = order[np.argsort(np.asarray(labelled_scores)[order], kind="stable")]
        forced = list(labelled[order][:budget])
        warming_up = snapshot.n_multi_labelled < self.min_multi_labelled
        n_warmup = 0
        if warming_up:
            single = np.flatnonzero(eligible & ~ties & (counts == 1))
            want = min(int(math.ceil(self.warmup_share * batch_size - 1e-9)), budget - len(forced))
            draws = rng.choice(single, size=min(max(want, 0), len(single)), replace=False) if len(single) \
                else np.zeros(0, dtype=np.int64)
            forced += list(labelled[np.sort(draws)])
            n_warmup = len(draws)
        facts = {"n_forced_ties": int(min(len(order), budget)), "n_warmup": n_warmup, "warming_up": bool(warming_up)}
        room = max(budget - len(forced), 0)
        rest = np.flatnonzero(eligible & ~np.isin(labelled, forced))
        rest = rest[np.argsort(np.asarray(labelled_scores)[rest], kind="stable")][:room]
        forced = np.asarray(forced, dtype=np.int64)
        if warming_up:  # the scores wait; they only fill places nothing else can (see select_batch)
            return RelabelPlan(forced, np.zeros(0, dtype=np.int64), np.zeros(0), labelled[rest], facts)
        return RelabelPlan(forced, labelled[rest], np.asarray(labelled_scores)[rest], np.zeros(0, dtype=np.int64), facts)


@dataclass(frozen=True)
class RelabelPlan:
    """What :meth:`RelabelPolicy.plan` decided for a batch.

    Attributes
    ----------
    forced : ndarray of int
        Positions to put in the batch first (ties, then warm-up draws), at most the relabel budget.
    competing : ndarray of int
        Positions whose scores may compete with the pool's; ``competing_scores`` their scores.
    reserve : ndarray of int
        During the warm-up, the relabels by score that may fill places no new example can take (a pool too small
        for the batch), within the caps.
    facts : dict
        ``n_forced_ties``, ``n_warmup``, ``warming_up``, for the round's history.
    """

    forced: np.ndarray
    competing: np.ndarray
    competing_scores: np.ndarray
    reserve: np.ndarray
    facts: dict

    @classmethod
    def nothing(cls) -> "RelabelPlan":
        """No relabel at all (no policy, or a strategy that does not score labelled examples)."""
        empty = np.zeros(0, dtype=np.int64)
        return cls(empty, empty, np.zeros(0), empty, {"n_forced_ties": 0, "n_warmup": 0, "warming_up": False})


def tied_examples(snapshot) -> np.ndarray:
    """Positions of examples with two or more labels whose most frequent class is not unique."""
    if not snapshot.n_annotations:
        return np.zeros(0, dtype=np.int64)
    width = int(snapshot.label.max()) + 1
    pairs, votes = np.unique(snapshot.example * width + snapshot.label, return_counts=True)
    examples = pairs // width
    starts = np.flatnonzero(np.r_[True, examples[1:] != examples[:-1]])
    top = np.maximum.reduceat(votes, starts)
    per_example_top = np.repeat(top, np.diff(np.r_[starts, len(examples)]))
    n_at_top = np.add.reduceat((votes == per_example_top).astype(np.int64), starts)
    candidates = examples[starts]
    return candidates[(n_at_top >= 2)]


def make_relabel_policy(relabel) -> RelabelPolicy | None:
    """``relabel=`` of :func:`autoal.run`: True (the default policy), False (None: no relabels), a dict of
    :class:`RelabelPolicy` settings, or a policy."""
    if relabel is False or relabel is None:
        return None
    if relabel is True:
        return RelabelPolicy()
    if isinstance(relabel, RelabelPolicy):
        return relabel
    if isinstance(relabel, dict):
        unknown = sorted(set(relabel) - set(RelabelPolicy.__dataclass_fields__))
        if unknown:
            raise InputError(f"unknown relabel settings {unknown}; use {', '.join(RelabelPolicy.__dataclass_fields__)}")
        return RelabelPolicy(**relabel)
    raise InputError(f"relabel must be True, False, a dict of settings such as {{'max_share': 0.5}} or a "
                     f"RelabelPolicy, got {relabel!r}")
