"""Annotators: given the examples picked for them, return (or yield) one label per example, or None to skip.

``annotate`` may be a generator: autoal commits each answer to the label store the moment it is
yielded, so a person who stops half-way (or a crash) loses nothing already answered.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import pandas as pd

from autoal.common.checks import POSITIVE_INT, Interval, Real, check_option
from autoal.errors import AutoalError, InputError

__all__ = [
    "Annotator",
    "StopAnnotation",
    "OracleAnnotator",
    "SimulatedAnnotator",
    "ExternalAnnotator",
    "PageAnnotator",
    "CallableAnnotator",
    "simulated_annotators",
    "as_annotators",
]


class StopAnnotation(AutoalError):
    """Raised by an annotator to stop the run safely; every answer given so far is kept."""


class Annotator(ABC):
    """Someone (or something) that labels examples.

    ``annotate(examples)`` receives the picked rows (a DataFrame indexed by example id, with the image
    and feature columns, without labels) and returns or yields, in order, a class for each row or None
    to skip it. Raising :class:`StopAnnotation` stops the run safely.
    """

    name: str = "annotator"

    answers_later: bool = False  # True for annotators whose labels arrive later through import-labels

    def prepare(self, *, classes, true_labels=None, image_col="image_path") -> None:
        """Called once before the first question with the run's classes, the image column's name and,
        in simulation mode, the hidden true labels (a Series by example id). The default stores ``classes``."""
        self.classes = list(classes)

    @abstractmethod
    def annotate(self, examples: pd.DataFrame):
        """Return or yield one label (or None to skip) per row of ``examples``, in order."""

    def spec(self) -> dict | None:
        """A JSON-able description from which :func:`annotator_from_spec` rebuilds this annotator on
        resume, or None when it cannot be rebuilt (it must then be passed to ``resume`` again)."""
        return None


class OracleAnnotator(Annotator):
    """Reveals the hidden true labels: the perfect annotator of a single-annotator benchmark."""

    def __init__(self, *, name="oracle"):
        self.name = name

    def prepare(self, *, classes, true_labels=None, image_col="image_path") -> None:
        super().prepare(classes=classes)
        if true_labels is None:
            raise InputError(f"annotator {self.name!r} reveals hidden labels, so it needs a fully labelled df (simulation mode)")
        self.true_labels = true_labels

    def annotate(self, examples):
        return self.true_labels.loc[examples.index].tolist()

    def spec(self):
        return {"kind": "oracle", "name": self.name}


class SimulatedAnnotator(Annotator):
    """A simulated person who gives the true label with probability ``accuracy``, else another class.

    Each example's answer is drawn once (seeded), so asking again or in another order gives the same
    answer. With ``noise_matrix`` (K x K, row = true class, column = given class, rows summing to 1)
    the mistakes follow it instead of being uniform over the other classes.

    Parameters
    ----------
    accuracy : float
        Chance of giving the true label, in (0, 1].
    name : str
    noise_matrix : array-like, shape (K, K), optional
    random_state : int
    """

    def __init__(self, accuracy=0.8, *, name="simulated", noise_matrix=None, random_state=0):
        if noise_matrix is None:
            check_option(f"accuracy of annotator {name!r}", accuracy, Interval(Real, 0, 1, closed="right"),
                         hint="the chance of giving the true label")
        self.accuracy = accuracy
        self.name = name
        self.noise_matrix = noise_matrix
        self.random_state = random_state

    def prepare(self, *, classes, true_labels=None, image_col="image_path") -> None:
        super().prepare(classes=classes)
        if true_labels is None:
            raise InputError(f"simulated annotator {self.name!r} needs the true labels: pass a fully labelled df")
        k = len(self.classes)
        matrix = self._matrix(k)
        rng = np.random.default_rng(self.random_state)
        truth = np.array([self.classes.index(c) for c in true_labels])
        cumulative = matrix[truth].cumsum(axis=1)
        given = (rng.random(len(truth))[:, None] > cumulative).sum(axis=1).clip(0, k - 1)
        self.answers = pd.Series([self.classes[g] for g in given], index=true_labels.index, dtype=object)

    def _matrix(self, k):
        if self.noise_matrix is not None:
            matrix = np.asarray(self.noise_matrix, dtype=float)
            if matrix.shape != (k, k) or not np.allclose(matrix.sum(axis=1), 1) or (matrix < 0).any():
                raise InputError(f"noise_matrix of annotator {self.name!r} must be {k}x{k} with rows of probabilities summing to 1")
            return matrix
        off = (1 - self.accuracy) / max(k - 1, 1)
        return np.full((k, k), off) + np.eye(k) * (self.accuracy - off)

    def annotate(self, examples):
        return self.answers.loc[examples.index].tolist()

    def spec(self):
        noise = None if self.noise_matrix is None else np.asarray(self.noise_matrix).tolist()
        return {"kind": "simulated", "name": self.name, "accuracy": self.accuracy, "noise_matrix": noise,
                "random_state": self.random_state}


class ExternalAnnotator(Annotator):
    """A person who labels outside autoal, through ``autoal export-batch`` and ``autoal import-labels``.

    When the run reaches such an annotator it records the batch and pauses; after the labels are
    imported, ``autoal resume RUN_DIR`` goes on.
    """

    answers_later = True

    def __init__(self, name):
        self.name = name

    def annotate(self, examples):
        return [None] * len(examples)

    def spec(self):
        return {"kind": "external", "name": self.name}


class PageAnnotator(ExternalAnnotator):
    """A person who labels on the labelling page of ``autoal serve`` (:mod:`autoal.server`).

    Answers arrive through the page, each stored the moment it is given; the server trains the next
    round when the batch is answered. The file round trip works for them too.
    """

    def spec(self):
        return {"kind": "page", "name": self.name}


class CallableAnnotator(Annotator):
    """Wrap a function ``f(examples: DataFrame) -> labels`` as an annotator."""

    def __init__(self, function, *, name=None):
        self.function = function
        self.name = name or getattr(function, "__name__", "annotator")

    def annotate(self, examples):
        return self.function(examples)


def simulated_annotators(n=5, accuracy=(0.65, 0.95), *, random_state=0, prefix="annotator") -> list:
    """A seeded pool of ``n`` simulated annotators with accuracies spread evenly over ``accuracy``.

    Their true labels come from the fully labelled ``df`` given to :func:`autoal.run`
    (simulation mode). Names are ``annotator_1`` ... ``annotator_n``.
    """
    low, high = accuracy if isinstance(accuracy, (tuple, list)) else (accuracy, accuracy)
    check_option("n", n, POSITIVE_INT)
    seeds = np.random.SeedSequence(random_state).generate_state(n)
    return [
        SimulatedAnnotator(float(a), name=f"{prefix}_{i + 1}", random_state=int(s))
        for i, (a, s) in enumerate(zip(np.linspace(low, high, n), seeds))
    ]


def as_annotators(annotators) -> list:
    """Normalise None, one annotator/callable, or a list of them into a list of :class:`Annotator`."""
    if annotators is None:
        return []
    if isinstance(annotators, Annotator) or callable(annotators):
        annotators = [annotators]
    out = []
    for a in annotators:
        if isinstance(a, Annotator):
            out.append(a)
        elif callable(a):
            out.append(CallableAnnotator(a))
        else:
            raise InputError(f"annotators must be Annotator objects or functions, got {type(a).__name__}")
    names = [a.name for a in out]
    if len(set(names)) != len(names):
        raise InputError(f"annotator names must be unique, got {names}; give each annotator its own name")
    return out

