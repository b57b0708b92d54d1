"""Learners autoal can retrain each round, and the registry that builds them by name."""

from __future__ import annotations

from ..errors import InputError
from .autogluon import AutoGluonLearner
from .base import Learner, pad_probabilities
from .embeddings import EmbeddingLearner
from .fast import FastLearner

__all__ = ["Learner", "AutoGluonLearner", "EmbeddingLearner", "FastLearner", "LEARNERS", "make_learner", "pad_probabilities"]

LEARNERS = {"autogluon": AutoGluonLearner, "fast": FastLearner, "embeddings": EmbeddingLearner}


def make_learner(learner, **options) -> Learner:
    """Return a Learner: a name in :data:`LEARNERS` (built with ``options``) or a Learner instance as is."""
    if isinstance(learner, Learner):
        if options:
            raise InputError(f"learner_options {sorted(options)} apply to named learners only; set them on your Learner instance")
        return learner
    if isinstance(learner, str) and learner in LEARNERS:
        try:
            return LEARNERS[learner](**options)
        except TypeError as exc:
            raise InputError(f"bad learner_options for {learner!r}: {exc}") from exc
    raise InputError(f"unknown learner {learner!r}; choose one of {', '.join(LEARNERS)} or pass a Learner instance")
