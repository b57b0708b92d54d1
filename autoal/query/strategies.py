"""Query strategies: functions from labels and predicted probabilities to scores (lower = ask first).

Every strategy is called as ``strategy(labels_multiannotator, pred_probs, pred_probs_unlabeled)``:

- ``labels_multiannotator``: float array of shape (N, M), class indices 0..K-1 given by M annotators to
  the N labelled examples, NaN where an annotator gave no label;
- ``pred_probs``: (N, K) predicted class probabilities of the labelled examples;
- ``pred_probs_unlabeled``: (U, K) predicted class probabilities of the unlabelled pool.

It returns ``(scores_labeled, scores_unlabeled)``: arrays of shape (N,) and (U,), lower = more worth an
annotation. ``scores_labeled`` may be None for strategies that never ask for a second label.
A custom callable may also return just the (U,) pool scores.

A strategy that needs randomness takes a keyword argument ``rng``: autoal then passes a
``numpy.random.Generator`` seeded by the run's seed and the round, so a resumed run draws what the
uninterrupted run would have drawn.
"""

from __future__ import annotations

import inspect
from typing import Callable

import numpy as np

from autoal.common.checks import StrOptions, check_option
from autoal.errors import InputError

__all__ = [
    "STRATEGIES",
    "activelab",
    "least_confidence",
    "margin",
    "entropy",
    "RandomStrategy",
    "ActiveLab",
    "get_strategy",
    "check_strategy_choice",
    "AUTO_STRATEGY",
    "call_strategy",
    "takes_rng",
    "takes_keyword",
]


def activelab(labels_multiannotator, pred_probs, pred_probs_unlabeled, *, random_state=0, memo=None):
    """cleanlab's ActiveLab scores for labelled and unlabelled examples, on one comparable scale.

    cleanlab's :func:`cleanlab.multiannotator.get_active_learning_scores`, computed by
    :func:`autoal.multiannotator.activelab.active_learning_scores` (equal results, fast at scale; ``random_state``
    seeds cleanlab's random tie-breaks, ``memo`` a :class:`~autoal.multiannotator.crowdlab.CrowdlabMemo`). Returns
    ``(scores_labeled, scores_unlabeled)`` in [0, 1]; lower = more informative to annotate (again).
    """
    from autoal.multiannotator.activelab import active_learning_scores

    labels = np.asarray(labels_multiannotator, dtype=float)
    if labels.shape[0] == 0:
        return None, _pool_only_activelab(pred_probs_unlabeled)
    scores_labeled, scores_unlabeled = active_learning_scores(
        labels, np.asarray(pred_probs, dtype=float), np.asarray(pred_probs_unlabeled, dtype=float),
        random_state=random_state, memo=memo,
    )
    return np.asarray(scores_labeled, dtype=float), np.asarray(scores_unlabeled, dtype=float)


def _pool_only_activelab(pred_probs_unlabeled):
    # cleanlab needs labelled examples; with none, its unlabelled score reduces to (max p + 1/K) / 2.
    probs = np.asarray(pred_probs_unlabeled, dtype=float)
    return (probs.max(axis=1) + 1.0 / probs.shape[1]) / 2.0


def least_confidence(labels_multiannotator, pred_probs, pred_probs_unlabeled):
    """Score = the top predicted probability; the least confident prediction is asked first."""
    return None, np.asarray(pred_probs_unlabeled, dtype=float).max(axis=1)


def margin(labels_multiannotator, pred_probs, pred_probs_unlabeled):
    """Score = top probability minus the runner-up; the smallest margin is asked first."""
    probs = np.sort(np.asarray(pred_probs_unlabeled, dtype=float), axis=1)
    if probs.shape[1] < 2:
        return None, probs[:, -1]
    return None, probs[:, -1] - probs[:, -2]


def entropy(labels_multiannotator, pred_probs, pred_probs_unlabeled):
    """Score = minus the Shannon entropy of the prediction; the most uncertain is asked first."""
    probs = np.clip(np.asarray(pred_probs_unlabeled, dtype=float), 1e-12, 1.0)
    return None, (probs * np.log(probs)).sum(axis=1)


class RandomStrategy:
    """Uniformly random scores: the baseline every strategy is measured against.

    Draws from the ``rng`` autoal passes each round (seeded by the run's seed and the round); called
    without one, from its own generator seeded by ``random_state``.
    """

    def __init__(self, random_state=0):
        self.random_state = random_state
        self._rng = np.random.default_rng(random_state)

    def __call__(self, labels_multiannotator, pred_probs, pred_probs_unlabeled, *, rng=None):
        return None, (rng if rng is not None else self._rng).random(len(pred_probs_unlabeled))


class ActiveLab:
    """:func:`activelab` for a run: its seed for cleanlab's random tie-breaks and the run's CROWDLAB memo (shared
    with the run's consensus, so a round's consensus and the next round's scores compute CROWDLAB once)."""

    __name__ = "activelab"

    def __init__(self, random_state=0, memo=None):
        self.random_state, self.memo = random_state, memo

    def __call__(self, labels_multiannotator, pred_probs, pred_probs_unlabeled):
        return activelab(labels_multiannotator, pred_probs, pred_probs_unlabeled, random_state=self.random_state,
                         memo=self.memo)


STRATEGIES: dict[str, Callable] = {
    "activelab": activelab,
    "random": RandomStrategy,
    "least_confidence": least_confidence,
    "margin": margin,
    "entropy": entropy,
}


#: What ``strategy="auto"`` means: margin with one annotator (measured best of the single-annotator
#: strategies, benchmarks/RESULTS.md, "Strategies compared on Fashion-MNIST"), ActiveLab with several (the one
#: strategy that weighs a second label for a shaky example against a first label for a new one).
AUTO_STRATEGY = {"one annotator": "margin", "several annotators": "activelab"}


def check_strategy_choice(strategy) -> None:
    """Raise InputError unless ``strategy`` is ``"auto"``, a name in :data:`STRATEGIES` or a callable."""
    if not callable(strategy):
        check_option("strategy", strategy, StrOptions(["auto", *STRATEGIES]),
                     hint="or pass a callable (labels_multiannotator, pred_probs, pred_probs_unlabeled) -> scores")


def get_strategy(strategy, *, random_state=0, memo=None) -> Callable:
    """Return the strategy callable for a name in :data:`STRATEGIES` or a user's callable.

    ``random_state`` seeds random scores and ActiveLab's tie-breaks; ``memo`` is the run's CROWDLAB memo.

    Raises
    ------
    InputError
        For an unknown name, listing the valid ones.
    """
    check_strategy_choice(strategy)
    if callable(strategy):
        return strategy
    if strategy == "auto":
        raise InputError("strategy 'auto' is resolved by the run (autoal.rounds.config.RunConfig.resolved); pass a "
                         f"strategy name, one of {', '.join(STRATEGIES)}")
    if strategy == "random":
        return RandomStrategy(random_state)
    if strategy == "activelab":
        return ActiveLab(random_state, memo)
    return STRATEGIES[strategy]


def takes_keyword(strategy, name) -> bool:
    """Whether ``strategy`` accepts the keyword argument ``name`` (or any keyword)."""
    try:
        parameters = inspect.signature(strategy).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def takes_rng(strategy) -> bool:
    """Whether ``strategy`` accepts the keyword argument ``rng``."""
    return takes_keyword(strategy, "rng")


def call_strategy(strategy, labels_multiannotator, pred_probs, pred_probs_unlabeled, *, rng=None, context=None):
    """Call a strategy and check its output: returns ``(scores_labeled or None, scores_unlabeled)``.

    ``rng`` and ``context`` (a :class:`~autoal.query.context.PoolContext`) are passed on to strategies that take
    them (:func:`takes_keyword`).
    """
    extra = {name: value for name, value in (("rng", rng), ("context", context))
             if value is not None and takes_keyword(strategy, name)}
    out = strategy(labels_multiannotator, pred_probs, pred_probs_unlabeled, **extra)
    if isinstance(out, tuple) and len(out) == 2:
        scores_labeled, scores_unlabeled = out
    else:
        scores_labeled, scores_unlabeled = None, out
    scores_unlabeled = _check_scores(scores_unlabeled, len(pred_probs_unlabeled), "unlabelled pool", strategy)
    if scores_labeled is not None:
        scores_labeled = _check_scores(scores_labeled, len(pred_probs), "labelled examples", strategy)
    return scores_labeled, scores_unlabeled


def _check_scores(scores, n, what, strategy):
    scores = np.asarray(scores, dtype=float).reshape(-1)
    name = getattr(strategy, "__name__", type(strategy).__name__)
    if scores.shape[0] != n:
        raise InputError(f"strategy {name!r} returned {scores.shape[0]} scores for {n} {what}; return one score per row")
    if np.isnan(scores).any():
        raise InputError(f"strategy {name!r} returned NaN scores for {int(np.isnan(scores).sum())} {what}")
    return scores

