"""Learners autoal can retrain each round, and the registry that builds them by name."""

from __future__ import annotations

from ..errors import InputError
from .autogluon import AutoGluonLearner
from .base import Learner, pad_probabilities
from .embeddings import EmbeddingLearner
from .fast import FastLearner
from .tabular import TabularLearner

__all__ = ["Learner", "AutoGluonLearner", "EmbeddingLearner", "FastLearner", "TabularLearner", "LEARNERS", "make_learner",
           "resolve_learner", "pad_probabilities"]

LEARNERS = {"autogluon": AutoGluonLearner, "fast": FastLearner, "embeddings": EmbeddingLearner, "tabular": TabularLearner}


def resolve_learner(learner, image_col):
    """``learner="auto"``: ``"embeddings"`` (frozen MobileNetV2 + EfficientNet-Lite0 embeddings, logistic
    regression) for data with an image column, ``"tabular"`` (TabularPredictor) for a table without one
    (``image_col=None``); anything else as given.

    Measured on a 2-core CPU (README, benchmarks/round_speed.py): on Fashion-MNIST at 500 identical labels the
    embeddings learner is as accurate as fine-tuning MobileNetV2 with AutoGluon (0.821 against 0.817) at a
    round of seconds instead of about 90 s, so it gives the most accuracy per minute of waiting.
    """
    if isinstance(learner, str) and learner == "auto":
        return "embeddings" if image_col is not None else "tabular"
    return learner


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
    raise InputError(f"unknown learner {learner!r}; choose one of {', '.join(LEARNERS)}, auto (embeddings with images, "
                     "tabular without) or pass a Learner instance")
