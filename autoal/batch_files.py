"""The file round trip for teams with their own labelling tools: export a batch, import its labels."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from .data import UNKNOWN, match_class
from .errors import InputError, first_few
from .manifest import read_csv_lines
from .run_folder import open_run
from .store import DuplicateAnnotation

__all__ = ["export_batch", "import_labels", "ImportReport"]

BATCH_COLUMNS = ["example_id", "image_path", "label"]


def _current_batch(settings, store, annotator, *, pending_only):
    """``(round, ids)`` of the latest round in which ``annotator`` was asked for labels."""
    if annotator not in settings["annotator_names"]:
        raise InputError(f"annotator {annotator!r} is not in this run; its annotators are {settings['annotator_names']}")
    asked = store.assignments()
    asked = asked[asked["annotator"] == annotator]
    if not asked.empty:
        latest = int(asked["round"].max())
        pending = store.assignments(latest, pending_only=True)
        pending_ids = pending.loc[pending["annotator"] == annotator, "example_id"].tolist()
        if pending_ids or not pending_only:
            return latest, pending_ids if pending_only else asked.loc[asked["round"] == latest, "example_id"].tolist()
    raise InputError(f"no labels are waiting from {annotator!r}; `autoal resume RUN_DIR` picks the next batch")


def export_batch(run_dir, annotator, out=None) -> Path:
    """Write ``annotator``'s current batch as a CSV (``example_id,image_path,label``, label empty).

    Returns the file's path: ``out``, or ``RUN_DIR/batches/round_RR_<annotator>.csv``.
    """
    settings, data, store = open_run(run_dir)
    round_number, ids = _current_batch(settings, store, annotator, pending_only=True)
    path = Path(out) if out else Path(run_dir) / "batches" / f"round_{round_number:02d}_{annotator}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(BATCH_COLUMNS)
        for i in ids:
            writer.writerow([i, data.frame.at[i, settings["image_col"]], ""])
    return path


@dataclass
class ImportReport:
    """What :func:`import_labels` did: labels stored, rows left blank, rows rejected (line, reason)."""

    stored: int = 0
    blank: int = 0
    rejected: list = field(default_factory=list)
    ignored_columns: list = field(default_factory=list)

    def message(self) -> str:
        parts = [f"stored {self.stored} labels", f"{self.blank} rows left blank"]
        if self.ignored_columns:
            parts.append(f"ignored columns {self.ignored_columns}")
        text = "; ".join(parts)
        if self.rejected:
            text += f"; rejected {len(self.rejected)} rows:\n" + "\n".join(f"  line {n}: {why}" for n, why in self.rejected)
        return text


def _read_rows(path):
    header, rows = read_csv_lines(path, what="labels file", hint="pass the CSV written by `autoal export-batch`")
    missing = [c for c in ("example_id", "label") if c not in header]
    if missing:
        raise InputError(f"labels file {str(path)!r} lacks column(s) {missing} (header: {header}); "
                         "it needs example_id,label as exported by `autoal export-batch`")
    return header, rows


def import_labels(run_dir, path, annotator) -> ImportReport:
    """Validate a labelled batch CSV and store its good rows as ``annotator``'s labels.

    Rows for examples outside the annotator's current batch, labels that are not classes, repeated
    examples and examples the annotator already labelled are rejected with their line numbers; every
    other row is committed. Blank labels are skipped. Safe to run from several processes at once.
    """
    settings, data, store = open_run(run_dir)
    round_number, batch = _current_batch(settings, store, annotator, pending_only=False)
    header, rows = _read_rows(path)
    by_text = {str(i): i for i in batch}
    report = ImportReport(ignored_columns=[c for c in header if c not in BATCH_COLUMNS])
    column = {name: header.index(name) for name in ("example_id", "label")}
    seen = {}
    for line, row in rows:
        cells = row + [""] * (len(header) - len(row))
        text_id, text_label = cells[column["example_id"]].strip(), cells[column["label"]].strip()
        if text_id in seen:
            report.rejected.append((line, f"example {text_id!r} appears again (first on line {seen[text_id]})"))
            continue
        seen[text_id] = line
        if text_id not in by_text:
            report.rejected.append((line, f"example {text_id!r} is not in {annotator}'s current batch (round {round_number})"))
            continue
        value = match_class(text_label, data.classes)
        if value is None:
            report.blank += 1
        elif value is UNKNOWN:
            report.rejected.append((line, f"{text_label!r} is not a class; classes: {first_few(data.classes, 20)}"))
        else:
            try:
                store.add(by_text[text_id], annotator, value, round=round_number)
                report.stored += 1
            except DuplicateAnnotation:
                report.rejected.append((line, f"{annotator} already labelled example {text_id!r}"))
    store.close()
    return report
