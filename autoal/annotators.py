"""Annotators: given the examples picked this round, return one label per example or abstain (None)."""

from __future__ import annotations

from abc import ABC, abstractmethod

import pandas as pd

__all__ = ["Annotator", "OracleAnnotator", "CallableAnnotator", "as_annotators"]


class Annotator(ABC):
    """Someone (or something) that labels examples.

    ``annotate(examples)`` receives the picked rows (a DataFrame indexed by example id, with the image
    and feature columns, without labels) and returns a sequence of the same length: a class for each
    row, or None to skip it.
    """

    name: str = "annotator"

    @abstractmethod
    def annotate(self, examples: pd.DataFrame) -> list:
        """Return one label (or None to abstain) per row of ``examples``, in order."""


class OracleAnnotator(Annotator):
    """Reveals the hidden true labels: the simulated annotator of a benchmark.

    Parameters
    ----------
    true_labels : Series
        True label per example id.
    """

    def __init__(self, true_labels: pd.Series, *, name="oracle"):
        self.true_labels = true_labels
        self.name = name

    def annotate(self, examples: pd.DataFrame) -> list:
        return self.true_labels.loc[examples.index].tolist()


class CallableAnnotator(Annotator):
    """Wrap a function ``f(examples: DataFrame) -> labels`` as an annotator."""

    def __init__(self, function, *, name=None):
        self.function = function
        self.name = name or getattr(function, "__name__", "annotator")

    def annotate(self, examples: pd.DataFrame) -> list:
        return list(self.function(examples))


def as_annotators(annotators) -> list:
    """Normalise None, one annotator/callable, or a list of them into a list of :class:`Annotator`."""
    from .errors import InputError

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
