"""Rebuilding a run's annotators from the descriptions saved with it (:meth:`Annotator.spec`)."""

from __future__ import annotations

from autoal.annotation.annotators import (
    Annotator,
    ExternalAnnotator,
    OracleAnnotator,
    PageAnnotator,
    SimulatedAnnotator,
)
from autoal.annotation.terminal import TerminalAnnotator
from autoal.errors import InputError

__all__ = ["annotator_from_spec", "answering_later"]


def annotator_from_spec(spec: dict) -> Annotator:
    """Rebuild an annotator from :meth:`Annotator.spec`."""
    kind = spec.get("kind")
    if kind == "simulated":
        return SimulatedAnnotator(spec["accuracy"], name=spec["name"], noise_matrix=spec.get("noise_matrix"),
                                  random_state=spec["random_state"])
    if kind == "oracle":
        return OracleAnnotator(name=spec["name"])
    if kind == "external":
        return ExternalAnnotator(spec["name"])
    if kind == "page":
        return PageAnnotator(spec["name"])
    if kind == "terminal":
        return TerminalAnnotator(spec["name"])
    raise InputError(f"cannot rebuild annotator from {spec!r}")


def answering_later(settings: dict) -> list:
    """The names of a run's annotators who answer later (files, the labelling page, Label Studio), read from its
    stored settings: those whose saved kind rebuilds an annotator with ``answers_later``."""
    names, specs = settings.get("annotator_names", []), settings.get("annotators", [])
    return [name for name, spec in zip(names, specs) if spec and spec.get("kind") in _ANSWER_LATER]


#: The saved kinds whose annotators answer later (:attr:`Annotator.answers_later`; a test checks they agree).
_ANSWER_LATER = ("external", "page")

