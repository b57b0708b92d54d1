"""Questions the labelling server asks of a run store: one annotator's work, the organiser's figures.

Read-only SQL over the store's tables (``assignments``, ``annotations``, ``skips``, ``probabilities``,
``rounds``, ``meta``), on a connection the caller owns (see :func:`autoal.store.server_tables.connect`),
so that a question asked inside the caller's ``BEGIN IMMEDIATE`` transaction sees what it wrote.
Examples are positions and labels class indices, as everywhere in the store.

An example is *open* for an annotator when it was assigned to them and they neither labelled nor
skipped it.
"""

from __future__ import annotations

import json

import numpy as np

__all__ = [
    "run_settings",
    "open_examples",
    "open_assignments",
    "latest_round_asked",
    "round_progress",
    "first_assigned_round",
    "assigned_to_another",
    "may_see",
    "label_given",
    "annotation_of",
    "skip_round",
    "labelled_by_another",
    "annotators_involved",
    "guess_probabilities",
    "labels_per_annotator",
    "skips_per_annotator",
    "open_per_annotator",
    "open_in_round_per_annotator",
    "latest_round_record",
    "count_annotations_after",
    "answer_counts",
    "annotations_per_label",
    "disagreed_examples",
    "answers_to",
]

#: The condition that assignment ``s`` is still open (its annotator neither labelled nor skipped its example).
_OPEN = ("NOT EXISTS (SELECT 1 FROM annotations n WHERE n.example = s.example AND n.annotator = s.annotator) "
         "AND NOT EXISTS (SELECT 1 FROM skips k WHERE k.example = s.example AND k.annotator = s.annotator)")


def run_settings(db) -> dict:
    """The run's settings as its ``meta`` table holds them now (empty when it holds none)."""
    row = db.execute("SELECT value FROM meta WHERE key = 'settings'").fetchone()
    return json.loads(row[0]) if row else {}


# -- one annotator's assignments -----------------------------------------------------------------------


def open_examples(db, annotator) -> list:
    """``[(round, example), ...]``: ``annotator``'s open examples, oldest round first, in the order assigned
    (an example assigned in several rounds once, with its first round)."""
    rows = db.execute(f"SELECT MIN(s.round), s.example, MIN(s.rowid) AS first FROM assignments s WHERE s.annotator = ? "
                      f"AND {_OPEN} GROUP BY s.example ORDER BY MIN(s.round), first", (annotator,)).fetchall()
    return [(int(r), int(e)) for r, e, _ in rows]


def open_assignments(db) -> list:
    """Every open assignment, in the order made: ``[(round, example, annotator, assigned_at), ...]``."""
    return db.execute(f"SELECT s.round, s.example, s.annotator, s.assigned_at FROM assignments s WHERE {_OPEN} "
                      "ORDER BY s.rowid").fetchall()


def latest_round_asked(db, annotator) -> int | None:
    """The latest round that assigned ``annotator`` anything, or None when none did."""
    row = db.execute("SELECT MAX(round) FROM assignments WHERE annotator = ?", (annotator,)).fetchone()
    return None if row[0] is None else int(row[0])


def round_progress(db, annotator, round_) -> tuple:
    """``(assigned, done)``: how many examples ``round_`` assigned to ``annotator``, and how many of those
    they labelled or skipped."""
    assigned, done = db.execute(
        "SELECT COUNT(*), SUM(EXISTS (SELECT 1 FROM annotations n WHERE n.example = s.example AND n.annotator = s.annotator) "
        "OR EXISTS (SELECT 1 FROM skips k WHERE k.example = s.example AND k.annotator = s.annotator)) "
        "FROM assignments s WHERE s.annotator = ? AND s.round = ?", (annotator, round_)).fetchone()
    return int(assigned), int(done or 0)


def first_assigned_round(db, example, annotator) -> int | None:
    """The first round that assigned ``example`` to ``annotator``, or None when none did."""
    row = db.execute("SELECT MIN(round) FROM assignments WHERE example = ? AND annotator = ?",
                     (example, annotator)).fetchone()
    return None if row[0] is None else int(row[0])


def assigned_to_another(db, example, annotator) -> bool:
    """Whether ``example`` was assigned to an annotator other than ``annotator``."""
    return db.execute("SELECT 1 FROM assignments WHERE example = ? AND annotator != ? LIMIT 1",
                      (example, annotator)).fetchone() is not None


def may_see(db, annotator, example) -> bool:
    """Whether ``example`` was assigned to ``annotator`` (open or answered), or they labelled or skipped it."""
    return db.execute(
        "SELECT EXISTS (SELECT 1 FROM assignments WHERE example = ? AND annotator = ?) "
        "OR EXISTS (SELECT 1 FROM annotations WHERE example = ? AND annotator = ?) "
        "OR EXISTS (SELECT 1 FROM skips WHERE example = ? AND annotator = ?)",
        (example, annotator) * 3).fetchone()[0] == 1


# -- answers to one example ----------------------------------------------------------------------------


def label_given(db, example, annotator) -> int | None:
    """The label ``annotator`` gave ``example``, or None when they gave none."""
    row = db.execute("SELECT label FROM annotations WHERE example = ? AND annotator = ?",
                     (example, annotator)).fetchone()
    return None if row is None else int(row[0])


def annotation_of(db, example, annotator) -> tuple | None:
    """``(label, round)`` of ``annotator``'s annotation of ``example``, or None when there is none."""
    row = db.execute("SELECT label, round FROM annotations WHERE example = ? AND annotator = ?",
                     (example, annotator)).fetchone()
    return None if row is None else (int(row[0]), int(row[1]))


def annotation_seq(db, example, annotator) -> int | None:
    """The sequence number of ``annotator``'s annotation of ``example`` (compared with a round's watermark: at or
    below it, a trained round used it), or None when there is none."""
    row = db.execute("SELECT seq FROM annotations WHERE example = ? AND annotator = ?", (example, annotator)).fetchone()
    return None if row is None else int(row[0])


def skip_round(db, example, annotator) -> int | None:
    """The round in which ``annotator`` skipped ``example``, or None when they did not."""
    row = db.execute("SELECT round FROM skips WHERE example = ? AND annotator = ?", (example, annotator)).fetchone()
    return None if row is None else int(row[0])


def labelled_by_another(db, example, annotator) -> bool:
    """Whether an annotator other than ``annotator`` labelled ``example``."""
    return db.execute("SELECT EXISTS (SELECT 1 FROM annotations WHERE example = ? AND annotator != ?)",
                      (example, annotator)).fetchone()[0] == 1


def annotators_involved(db, example) -> set:
    """Everyone who labelled, skipped or was assigned ``example`` (who may not be asked about it afresh)."""
    return {n for (n,) in db.execute(
        "SELECT annotator FROM annotations WHERE example = ? UNION SELECT annotator FROM skips WHERE example = ? "
        "UNION SELECT annotator FROM assignments WHERE example = ?", (example, example, example))}


def guess_probabilities(db, example) -> np.ndarray | None:
    """The model's class probabilities for ``example`` (float64): those kept when it was picked, else the
    latest cross-validated ones; None when the run kept none."""
    row = db.execute("SELECT probs FROM probabilities WHERE example = ? ORDER BY kind = 'pick' DESC, round DESC",
                     (example,)).fetchone()
    return None if row is None else np.frombuffer(row[0], dtype="<f8")


# -- the organiser's figures ---------------------------------------------------------------------------


def labels_per_annotator(db) -> dict:
    """``{annotator: number of labels given}`` (annotators who gave none are absent)."""
    return dict(db.execute("SELECT annotator, COUNT(*) FROM annotations GROUP BY annotator").fetchall())


def skips_per_annotator(db) -> dict:
    """``{annotator: number of examples skipped}`` (annotators who skipped none are absent)."""
    return dict(db.execute("SELECT annotator, COUNT(*) FROM skips GROUP BY annotator").fetchall())


def open_per_annotator(db) -> dict:
    """``{annotator: number of distinct open examples}``, over every round."""
    return dict(db.execute(f"SELECT s.annotator, COUNT(DISTINCT s.example) FROM assignments s WHERE {_OPEN} "
                           "GROUP BY s.annotator").fetchall())


def open_in_round_per_annotator(db, round_) -> dict:
    """``{annotator: open examples assigned in round_}`` (annotators with none open are absent)."""
    return dict(db.execute(f"SELECT s.annotator, COUNT(*) FROM assignments s WHERE s.round = ? AND {_OPEN} "
                           "GROUP BY s.annotator", (round_,)).fetchall())


def latest_round_record(db) -> dict | None:
    """The history record of the latest finished round, or None before any round finished."""
    row = db.execute("SELECT record FROM rounds ORDER BY round DESC LIMIT 1").fetchone()
    return None if row is None else json.loads(row[0])


def count_annotations_after(db, seq) -> int:
    """How many annotations have a sequence number above ``seq`` (were stored after it)."""
    return int(db.execute("SELECT COUNT(*) FROM annotations WHERE seq > ?", (seq,)).fetchone()[0])


def answer_counts(db) -> list:
    """``[(example, label, how many annotators gave it), ...]`` over every annotation."""
    return [(int(e), int(lab), int(n)) for e, lab, n in
            db.execute("SELECT example, label, COUNT(*) FROM annotations GROUP BY example, label")]


def annotations_per_label(db) -> dict:
    """``{label: number of annotations naming it}`` (labels never given are absent)."""
    return dict(db.execute("SELECT label, COUNT(*) FROM annotations GROUP BY label").fetchall())


def disagreed_examples(db) -> list:
    """The examples whose annotations name more than one label, the latest answered first."""
    return [int(e) for (e,) in db.execute(
        "SELECT example FROM annotations GROUP BY example HAVING COUNT(DISTINCT label) > 1 ORDER BY MAX(seq) DESC")]


def answers_to(db, example) -> list:
    """``[(annotator, label), ...]``: every annotation of ``example``, in the order given."""
    return db.execute("SELECT annotator, label FROM annotations WHERE example = ? ORDER BY seq", (example,)).fetchall()
