"""The file round trip for teams with their own labelling tools: export a person's open examples, import their labels.

An annotator's open examples are every example assigned to them, in any round, that they have neither
labelled nor skipped. ``export_batch`` writes all of them; ``import_labels`` accepts a label for any
of them whenever it arrives, so a late file is never refused because the run has moved on.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from autoal.data.labels import UNKNOWN, match_class
from autoal.errors import InputError, first_few
from autoal.common.files import write_atomic
from autoal.common.spreadsheet import from_cell, to_cell
from autoal.common.wording import plural
from autoal.data.manifest import read_csv_lines, refuse_cells_over_lines
from autoal.store.run_state import open_run
from autoal.store.run_store import AnswerConflict, DuplicateAnnotation

__all__ = ["export_batch", "import_labels", "ImportReport", "open_examples", "AnswerChecks", "waiting_round"]

BATCH_COLUMNS = ["example_id", "image_path", "label"]


def _check_annotator(state, annotator) -> None:
    names = state.settings["annotator_names"]
    if annotator not in names:
        raise InputError(f"annotator {annotator!r} is not in this run; its annotators are {names}")


def open_examples(state, annotator) -> tuple:
    """``(rounds, positions)`` of the examples ``annotator`` was asked about and has not answered, oldest first."""
    rounds, positions, _ = state.snapshot().pending(annotators=[annotator])
    return rounds, positions


def export_batch(run_dir, annotator, out=None) -> Path:
    """Write ``annotator``'s open examples as a CSV (``example_id,image_path,label``, label empty).

    Cells that a spreadsheet would run as a formula are written with a leading ``'``
    (:mod:`autoal.common.spreadsheet`); :func:`import_labels` takes it off again.

    A run without images (``image_col=None``) writes ``example_id``, the example's columns, then ``label``.

    Returns the file's path: ``out``, or ``RUN_DIR/batches/round_RR_<annotator>.csv`` (RR: the latest
    round among them).
    """
    state = open_run(run_dir)
    try:
        _check_annotator(state, annotator)
        rounds, positions = open_examples(state, annotator)
        if not len(positions):
            raise InputError(f"no labels are waiting from {annotator!r}; `autoal resume {run_dir}` picks the next batch")
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", annotator)
        path = Path(out) if out else Path(run_dir) / "batches" / f"round_{int(rounds.max()):02d}_{safe}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        image_col = state.settings["image_col"]
        if image_col is None:  # a table: the columns a person needs to decide, in the run's order
            columns = [c for c in state.data.frame.columns if c != state.label]
            writer.writerow(["example_id"] + [str(c) for c in columns] + ["label"])
            values = state.data.frame[columns].iloc[np.asarray(positions, dtype=np.int64)]
            for example_id, (_, row) in zip(state.ids_of(positions), values.iterrows()):
                cells = [example_id] + ["" if pd.isna(v) else v for v in row.tolist()] + [""]
                writer.writerow([to_cell(c) for c in cells])
        else:
            writer.writerow(BATCH_COLUMNS)
            paths = state.data.frame[image_col].to_numpy()
            for example_id, position in zip(state.ids_of(positions), positions):
                writer.writerow([to_cell(example_id), to_cell(paths[position]), ""])
        write_atomic(path, buffer.getvalue())
        return path
    finally:
        state.close()


def waiting_round(state) -> tuple:
    """``(round, {annotator: open examples})``: the round the run goes on with (the one after its last
    recorded round) and who still owes answers for it (empty when its batch is complete)."""
    records = state.store.rounds()
    r = int(records[-1][0]["round"]) + 1 if records else 0
    return r, state.snapshot().owed(r)


@dataclass
class ImportReport:
    """What :func:`import_labels` did: labels stored, rows left blank, rows rejected (line, reason), and
    what the run waits for now (``round``, ``pending``: ``{annotator: open examples}`` in that round;
    ``rounds_done``: the run has done its rounds)."""

    stored: int = 0
    blank: int = 0
    rejected: list = field(default_factory=list)
    ignored_columns: list = field(default_factory=list)
    round: int = 0
    pending: dict = field(default_factory=dict)
    rounds_done: bool = False

    def message(self) -> str:
        """What happened, one line, then the rejected rows with their line numbers."""
        parts = [f"stored {plural(self.stored, 'label')}"]
        if self.blank:
            parts.append(f"{plural(self.blank, 'row')} left blank (still open)")
        if self.ignored_columns:
            parts.append(f"ignored {'column' if len(self.ignored_columns) == 1 else 'columns'} {self.ignored_columns}")
        if self.rejected:
            parts.append(f"rejected {plural(len(self.rejected), 'row')}")
        text = "; ".join(parts)
        if self.rejected:
            text += ":\n" + "\n".join(f"  line {n}: {why}" for n, why in self.rejected)
        return text

    def next_step(self, run_dir) -> str:
        """What to do next: resume when the round's batch is complete, else who it still waits for."""
        if self.rounds_done:
            return (f"the run has done its rounds: the labels are in its store (`autoal export-labels {run_dir}` "
                    f"writes them); `autoal resume {run_dir} --rounds N` trains on them and goes on to round N")
        if not self.pending:
            return (f"round {self.round}'s batch is complete: `autoal resume {run_dir}` trains on the new labels and "
                    "picks the next batch")
        owed = ", ".join(f"{name} ({plural(k, 'example')})" for name, k in self.pending.items())
        return (f"round {self.round} still waits for {owed}; `autoal resume {run_dir} --partial` trains now on what "
                "has arrived")


def _read_rows(path):
    header, rows = read_csv_lines(path, what="labels file", hint="pass the CSV written by `autoal export-batch`")
    missing = [c for c in ("example_id", "label") if c not in header]
    if missing:
        raise InputError(f"labels file {str(path)!r} lacks column(s) {missing} (header: {header}); "
                         "it needs example_id,label as exported by `autoal export-batch`")
    refuse_cells_over_lines(path, "labels file", header, rows, ("example_id", "label"))
    return header, rows


class _Lookup:
    """Text id -> what an import may do with it, for one annotator."""

    def __init__(self, state, annotator):
        snapshot = state.snapshot()
        rounds, positions = open_examples(state, annotator)
        self.open = {str(i): (int(p), int(r)) for i, p, r in zip(state.ids_of(positions), positions, rounds)}
        code = snapshot.code(annotator) if annotator in snapshot.names else -1
        done = snapshot.example[snapshot.annotator == code]
        skipped = snapshot.skipped_example[snapshot.skipped_annotator == code]
        self.done = set(map(str, state.ids_of(done)))
        self.skipped = set(map(str, state.ids_of(np.setdiff1d(skipped, done))))


def import_labels(run_dir, path, annotator) -> ImportReport:
    """Validate a labelled batch CSV and store its good rows as ``annotator``'s labels.

    A row is stored when its example was assigned to ``annotator`` in any round and they have not
    labelled or skipped it yet. Rows for other examples, labels that are not classes, examples repeated
    in the file and examples the annotator already labelled are rejected with their line numbers;
    blank labels are skipped (still open). Each good row is committed on its own, so an import that is
    interrupted keeps what it stored; several processes may import at once.
    """
    state = open_run(run_dir)
    try:
        _check_annotator(state, annotator)
        header, rows = _read_rows(path)
        known = BATCH_COLUMNS + [str(c) for c in state.data.frame.columns]  # what export-batch may have written
        report = ImportReport(ignored_columns=[c for c in header if c not in known])
        checks = AnswerChecks(state, report, where_open=lambda name: f"`autoal export-batch {state.folder} "
                                                                     f"--annotator {name}`")
        column = {name: header.index(name) for name in ("example_id", "label")}
        seen = {}
        for line, row in rows:
            cells = row + [""] * (len(header) - len(row))
            text_id, text_label = (from_cell(cells[column[c]].strip()) for c in ("example_id", "label"))
            problem = checks.label(annotator, text_id, text_label, seen.get(text_id))
            seen.setdefault(text_id, line)
            if problem:
                report.rejected.append((line, problem))
        report.round, report.pending = waiting_round(state)
        report.rounds_done = report.round > state.settings["n_rounds"]
        return report
    finally:
        state.close()


class AnswerChecks:
    """The one path by which answers from a file or another labelling tool are checked and stored: the rows of
    :func:`import_labels` and Label Studio's answers (:mod:`autoal.labelstudio`), one by one.

    ``label`` and ``skip`` return why an answer was refused, or ``""`` when it was stored (a label that
    matches no text, e.g. empty, counts in ``report.blank`` and stays open). ``first`` names where the
    same annotator answered the same example earlier in the same set of answers (a repeat is refused).
    What an annotator may answer is read once, when they first answer here.
    """

    def __init__(self, state, report, *, where_open=None):
        self.state, self.report, self._open = state, report, {}
        self.where_open = where_open  # (annotator) -> where that annotator's open examples are, for refusals

    def check_annotator(self, annotator) -> None:
        """InputError unless ``annotator`` is one of the run's annotators."""
        _check_annotator(self.state, annotator)

    def _lookup(self, annotator) -> "_Lookup":
        if annotator not in self._open:
            self._open[annotator] = _Lookup(self.state, annotator)
        return self._open[annotator]

    def label(self, annotator, text_id, text_label, first=None) -> str:
        """Store ``annotator``'s label for example ``text_id`` (both as text); returns why refused, or ``""``."""
        lookup = self._lookup(annotator)
        refused = self._refusal(lookup, annotator, text_id, first, skipping=False)
        if refused:
            return refused
        value = match_class(text_label, self.state.classes)
        if value is None:
            self.report.blank += 1
            return ""
        if value is UNKNOWN:
            return f"{text_label!r} is not a class; classes: {first_few(self.state.classes, 20)}"
        position, round_ = lookup.open[text_id]
        try:
            self.state.add_label(position, annotator, self.state.class_index[value], round_)
        except DuplicateAnnotation:
            return f"{annotator} already labelled example {text_id!r}"
        except AnswerConflict:  # skipped since this import looked (on the page, say): the skip stands
            lookup.skipped.add(text_id)
            return f"{annotator} skipped example {text_id!r} meanwhile (on the page?); change the skip there instead"
        lookup.done.add(text_id)
        self.report.stored += 1
        return ""

    def skip(self, annotator, text_id, first=None) -> str:
        """Store that ``annotator`` could not tell example ``text_id``; returns why refused, or ``""``."""
        lookup = self._lookup(annotator)
        refused = self._refusal(lookup, annotator, text_id, first, skipping=True)
        if refused:
            return refused
        position, round_ = lookup.open.pop(text_id)
        try:
            self.state.skip(position, annotator, round_)
        except AnswerConflict:  # labelled since this import looked: the label stands
            lookup.done.add(text_id)
            return f"{annotator} labelled example {text_id!r} meanwhile; a skip is not stored over a label"
        lookup.skipped.add(text_id)
        return ""

    def _refusal(self, lookup, annotator, text_id, first, *, skipping) -> str:
        """Why ``annotator`` may not answer ``text_id`` (the same rules for a label and a skip), or ``""``."""
        if first is not None:
            return f"example {text_id!r} appears again (first on line {first})"
        if text_id in lookup.done:
            return f"{annotator} already labelled example {text_id!r}"
        if text_id in lookup.skipped:
            return (f"{annotator} already skipped example {text_id!r}" if skipping else
                    f"{annotator} skipped example {text_id!r} earlier; it was given to someone else")
        if text_id not in lookup.open:
            hint = f"; the examples waiting for them are in {self.where_open(annotator)}" if self.where_open else ""
            return f"example {text_id!r} was never assigned to {annotator}{hint}"
        return ""
