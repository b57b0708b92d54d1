"""Learners autoal can retrain each round, and the registry that builds them by name (and by which a saved model is
loaded again: :mod:`autoal.results.model`)."""

from __future__ import annotations

from autoal.common.checks import StrOptions, check_option
from autoal.errors import InputError
from autoal.learners.autogluon import AutoGluonLearner
from autoal.learners.base import Learner, pad_probabilities
from autoal.learners.embeddings import EmbeddingLearner
from autoal.learners.fast import FastLearner
from autoal.learners.tabular import TabularLearner

__all__ = ["Learner", "AutoGluonLearner", "EmbeddingLearner", "FastLearner", "TabularLearner", "LEARNERS", "make_learner",
           "check_learner_choice", "pad_probabilities"]

LEARNERS = {"autogluon": AutoGluonLearner, "fast": FastLearner, "embeddings": EmbeddingLearner, "tabular": TabularLearner}


def check_learner_choice(learner, options=None) -> None:
    """Raise InputError unless ``learner`` is a name in :data:`LEARNERS`, ``"auto"`` or a Learner instance (which
    takes no ``options``)."""
    if isinstance(learner, Learner):
        if options:
            raise InputError(f"learner_options {sorted(options)} apply to named learners only; set them on your Learner instance")
        return
    check_option("learner", learner, StrOptions([*LEARNERS, "auto"]),
                 hint="or pass a Learner instance (auto: embeddings with images, tabular without)")
    if options is not None and not isinstance(options, dict):
        raise InputError(f"learner_options must be a dict of the learner's arguments, got {options!r}")


def make_learner(learner, **options) -> Learner:
    """Return a Learner: a name in :data:`LEARNERS` (built with ``options``) or a Learner instance as is."""
    check_learner_choice(learner, options)
    if isinstance(learner, Learner):
        return learner
    if learner == "auto":
        raise InputError("learner 'auto' is resolved by the run (autoal.rounds.config.RunConfig.resolved); pass a "
                         f"learner name, one of {', '.join(LEARNERS)}")
    try:
        return LEARNERS[learner](**options)
    except TypeError as exc:
        raise InputError(f"bad learner_options for {learner!r}: {exc}") from exc

