"""Asking: in-process annotators answer their open assignments; every answer and skip is committed at once.

An annotator's answers are matched to the run's classes one by one and stored the moment they are
given (a generator's answers as they are yielded), so a person who stops half-way, or a crash, loses
nothing already answered. A skip (None) is stored too: that annotator is never asked about that
example again, and the example is handed over to the next in-process annotator who can take it.
Annotators whose answers arrive later (files, the labelling page) are not asked here.
"""

from __future__ import annotations

import time
from collections.abc import Sized

from autoal.annotation.assignment import assign_batch
from autoal.data.labels import UNKNOWN, match_class
from autoal.errors import AnnotationError, first_few
from autoal.store.run_store import AnswerConflict, DuplicateAnnotation

__all__ = ["ask_open_assignments"]


def ask_open_assignments(state, annotators, inputs, round) -> float:
    """Ask every in-process annotator for its open assignments until none is left; returns the seconds spent.

    Parameters
    ----------
    state : RunState
        Where answers, skips and hand-over assignments are committed.
    annotators : list of Annotator
        The run's annotators (those with ``answers_later`` are left alone).
    inputs : DataFrame
        The pool as annotators see it (no label column), in position order.
    round : int
        The round in progress; hand-overs are assigned in it.

    Raises
    ------
    AnnotationError
        An answer that is not a class, or a wrong number of answers (what was valid is kept).
    StopAnnotation
        Raised by an annotator to stop; everything answered before is kept.
    """
    asking = {a.name: a for a in annotators if not a.answers_later}
    started = time.perf_counter()
    while True:
        snapshot = state.snapshot()
        rounds, examples, names = snapshot.pending(annotators=list(asking))
        if not len(examples):
            break
        skipped = []
        for name in [n for n in asking if n in set(names.tolist())]:  # the run's order, whatever was answered before a restart
            mine = names == name
            skipped += _ask_one(state, asking[name], examples[mine], rounds[mine], inputs)
        handover = assign_batch(skipped, state.snapshot(), list(asking)) if skipped else []
        if not handover:
            break
        state.assign(round, handover)
    return time.perf_counter() - started


def _ask_one(state, annotator, positions, rounds, inputs) -> list:
    """Ask one annotator about ``positions``; commit each answer; return the positions it skipped."""
    answers = annotator.annotate(inputs.iloc[positions])
    if isinstance(answers, Sized) and len(answers) != len(positions):
        raise AnnotationError(
            f"annotator {annotator.name!r} returned {len(answers)} labels for {len(positions)} examples; return one "
            "label (or None to skip) per example, in order. None of these answers was stored: with a wrong count "
            "autoal cannot tell which answer belongs to which example")
    skipped, bad, given = [], [], 0
    for position, round_, answer in _paired(annotator, positions, rounds, answers):
        given += 1
        value = match_class(answer, state.classes)
        if value is None:
            try:
                state.skip(position, annotator.name, round_)
            except AnswerConflict:
                continue  # labelled meanwhile by another process (an import): the label stands
            skipped.append(position)
        elif value is UNKNOWN:
            bad.append((state.ids_of([position])[0], answer))
        else:
            try:
                state.add_label(position, annotator.name, state.class_index[value], round_)
            except (DuplicateAnnotation, AnswerConflict):
                pass  # answered or skipped meanwhile by another process (an import): that answer stands
    if bad:
        raise AnnotationError(
            f"annotator {annotator.name!r} gave labels that are not classes of this run: {first_few(bad)}; "
            f"valid classes: {first_few(state.classes, 20)}. Every valid answer is saved in the run store")
    if given < len(positions):
        raise AnnotationError(
            f"annotator {annotator.name!r} returned {given} labels for {len(positions)} examples; return one "
            "label (or None to skip) per example. The answers given are saved in the run store")
    return skipped


def _paired(annotator, positions, rounds, answers):
    """``(position, round, answer)`` in order; AnnotationError as soon as an answer has no example."""
    iterator = iter(answers)
    for k in range(len(positions)):
        try:
            answer = next(iterator)
        except StopIteration:
            return
        yield int(positions[k]), int(rounds[k]), answer
    extra = next(iterator, _NOTHING)
    if extra is not _NOTHING:
        raise AnnotationError(
            f"annotator {annotator.name!r} gave more labels than the {len(positions)} examples it was asked about "
            f"(the first extra one: {extra!r}); return one label (or None to skip) per example. The first "
            f"{len(positions)} answers are saved in the run store")


_NOTHING = object()
