"""Stopping without a holdout: stop when the model's predictions on a fixed stop set stop changing.

People labelling their own data rarely have a labelled test set to watch. :class:`StablePredictions`
keeps a seeded sample of examples that were unlabelled when the run started (the stop set), compares
each round's predicted classes on it with the previous round's by Cohen's kappa, and stops once kappa
stays at or above a threshold for a number of consecutive rounds (the stabilising-predictions rule of
Bloodgood and Vijay-Shanker, 2009).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from autoal.common.checks import POSITIVE_INT, Interval, Real, check_option
from autoal.errors import InputError

__all__ = ["StablePredictions", "StopMonitor", "cohen_kappa", "make_stop_rule"]


def cohen_kappa(a, b) -> float:
    """Cohen's kappa between two label vectors (``sklearn.metrics.cohen_kappa_score``); 1.0 when they are
    identical, also when both are one constant class, where scikit-learn's formula is 0/0."""
    from sklearn.metrics import cohen_kappa_score

    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"label vectors of different lengths: {a.shape} and {b.shape}")
    if len(a) == 0 or np.array_equal(a, b):
        return 1.0
    return float(cohen_kappa_score(a, b))


@dataclass(frozen=True)
class StablePredictions:
    """Stop when predictions on the stop set agree (Cohen's kappa >= ``kappa``) for ``rounds`` rounds in a row.

    Parameters
    ----------
    kappa : float
        Agreement threshold in (0, 1].
    rounds : int
        Consecutive rounds (round-to-round comparisons) at or above the threshold.
    size : int
        Stop-set size: a seeded sample of the examples unlabelled at the start (all of them if fewer).
    report_only : bool
        Record ``stop_kappa`` and ``stable_rounds`` in the history but never stop the run (for
        measuring where the rule would have stopped).
    """

    kappa: float = 0.99
    rounds: int = 3
    size: int = 1000
    report_only: bool = False

    def __post_init__(self):
        check_option("stop kappa", self.kappa, Interval(Real, 0, 1, closed="right"))
        for name in ("rounds", "size"):
            check_option(f"stop {name}", getattr(self, name), POSITIVE_INT)

    def stable_rounds(self, kappas) -> int:
        """How many of the latest ``kappas`` in a row are at or above the threshold (NaN breaks the run)."""
        count = 0
        for value in reversed(list(kappas)):
            if value is None or not np.isfinite(value) or value < self.kappa:
                break
            count += 1
        return count

    def should_stop(self, kappas) -> bool:
        """True when the kappa sequence so far ends with ``rounds`` values at or above the threshold."""
        return self.stable_rounds(kappas) >= self.rounds

    def stop_round(self, kappas):
        """Index of the first element of ``kappas`` (one per round) at which the rule stops, or None."""
        kappas = list(kappas)
        for r in range(len(kappas)):
            if self.should_stop(kappas[: r + 1]):
                return r
        return None

    def stop_set(self, candidate_ids, random_state) -> list:
        """The seeded stop set: ``size`` of ``candidate_ids`` (all when fewer), in their original order."""
        ids = list(candidate_ids)
        if len(ids) <= self.size:
            return ids
        rng = np.random.default_rng([int(random_state), 1009])
        chosen = np.sort(rng.choice(len(ids), size=self.size, replace=False))
        return [ids[k] for k in chosen]

    def to_dict(self) -> dict:
        """The settings as a plain dict (saved in the run's settings.json)."""
        return asdict(self)


def make_stop_rule(stop):
    """None, ``"stable"`` (default settings), a dict of :class:`StablePredictions` settings or an instance."""
    if stop is None or isinstance(stop, StablePredictions):
        return stop
    if stop == "stable":
        return StablePredictions()
    if isinstance(stop, dict):
        unknown = sorted(set(stop) - {"kappa", "rounds", "size", "report_only"})
        if unknown:
            raise InputError(f"unknown stop settings {unknown}; use kappa, rounds, size, report_only")
        return StablePredictions(**stop)
    raise InputError(f"unknown stop rule {stop!r}; use stop='stable', a dict like {{'kappa': 0.99, 'rounds': 3}}, "
                     "or None (stop after n_rounds, the budget or target_accuracy)")


class StopMonitor:
    """Applies a :class:`StablePredictions` rule during a run: predicts the stop set after every
    round's training, compares with the previous round (Cohen's kappa) and says when to stop.

    Parameters
    ----------
    rule : StablePredictions
        The rule.
    positions : array of int
        The stop set (pool positions).
    previous : array of int, optional
        The last recorded round's predicted classes on the stop set (a resumed run).
    """

    def __init__(self, rule: StablePredictions, positions, previous=None):
        self.rule = rule
        self.positions = np.asarray(positions, dtype=np.int64)
        self.previous = previous

    def observe(self, learner, inputs) -> tuple:
        """Predict the stop set with the freshly trained ``learner``; returns ``(history fields, predictions)``."""
        import time

        started = time.perf_counter()
        predictions = learner.predict_proba(inputs.iloc[self.positions]).argmax(axis=1).astype(np.int32)
        kappa = cohen_kappa(self.previous, predictions) if self.previous is not None else float("nan")
        self.previous = predictions
        return {"stop_kappa": kappa, "stop_seconds": time.perf_counter() - started}, predictions

    def should_stop(self, rows) -> bool:
        """Whether the recorded rounds' kappas say stop (never with ``report_only``)."""
        return not self.rule.report_only and self.rule.should_stop([row.get("stop_kappa") for row in rows])

    def message(self) -> str:
        """Why the run stopped, in words."""
        return (f"predictions stable: Cohen's kappa on the {len(self.positions)}-example stop set >= {self.rule.kappa} "
                f"for {self.rule.rounds} rounds")
