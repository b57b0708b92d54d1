"""The run store: one SQLite file, ``RUN_DIR/run.sqlite``, that holds everything a run needs to resume.

SQLite as the run's file format: every change is a transaction, a crash (even ``kill -9``) leaves the
last committed state, several processes may write at once (WAL journal, busy timeout), and nothing
in it can execute code when read (no pickle anywhere). Tables (schema version 2, plain SQL):

- ``meta(key, value)``: ``schema_version``, ``run_id``, ``created``, ``settings`` (JSON), the data's
  description (``classes``, ``columns``, ``label``, ``mode``, ``holdout``, ...) and ``edits`` (a counter
  bumped by triggers whenever an annotation is changed or removed).
- ``examples``: the examples and the holdout (:mod:`autoal.store.example_table`); ``pos`` is the key.
- ``classes(idx, name)``: the class list; labels elsewhere are class indices.
- ``annotations(seq, example, annotator, label, round, timestamp)``: one row per annotation, unique
  per (example, annotator).
- ``assignments(round, example, annotator, assigned_at)``: who was asked for what, and when.
- ``skips(example, annotator, round, timestamp)``: an annotator who could not tell; never asked again.
  A person gives an example a label or a skip, never both: triggers (:data:`ANSWER_GUARDS`) refuse the
  second inside its INSERT's own write transaction, whichever process writes it.
- ``probabilities(example, kind, round, probs)``: out-of-sample probabilities (float64 bytes).
- ``selections(round, facts)``: how each round's batch was selected (JSON: examples scored, batch
  rule, seconds), written with its assignments.
- ``rounds(round, record, stop_predictions)``: each finished round's history row (JSON) and the
  stop set's predicted classes (int32 bytes).
- view ``labels``: annotations with their example ids and class names, for people reading the file.

The store speaks in positions and class indices; :mod:`autoal.store.run_state` maps them to ids and classes.
Opening a store checks that it is whole first (:mod:`autoal.store.store_check`). Only one process drives a
run's rounds at a time (:mod:`autoal.store.run_lock`); any number may add answers or read.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from pathlib import Path

import numpy as np

from autoal.common.json_values import json_default
from autoal.store import example_table
from autoal.store.store_check import IDENTIFYING_TABLES, DamagedStore, check_store, holds_data, read_only_tables
from autoal.errors import InputError

__all__ = ["RunStore", "Transaction", "DuplicateAnnotation", "AnswerConflict", "SCHEMA_VERSION", "STORE_FILE",
           "OLD_FORMAT_FILES", "ensure_answer_guards"]

SCHEMA_VERSION = 2
STORE_FILE = "run.sqlite"
#: Files of run folders written by autoal before schema 2 (examples pickled in data.pkl).
OLD_FORMAT_FILES = ("data.pkl", "labels.sqlite")

#: Triggers that keep a label and a skip of one example by one person from both being stored, whatever the
#: path (the page, files, Label Studio, a script): each INSERT checks inside its own write transaction.
#: Part of the schema of new stores; added to stores made before them when opened (:func:`ensure_answer_guards`).
ANSWER_GUARDS = {
    "label_not_after_skip": "CREATE TRIGGER label_not_after_skip BEFORE INSERT ON annotations WHEN EXISTS "
                            "(SELECT 1 FROM skips WHERE example = NEW.example AND annotator = NEW.annotator) "
                            "BEGIN SELECT RAISE(ABORT, 'autoal: answer conflict: skipped'); END;",
    "skip_not_after_label": "CREATE TRIGGER skip_not_after_label BEFORE INSERT ON skips WHEN EXISTS "
                            "(SELECT 1 FROM annotations WHERE example = NEW.example AND annotator = NEW.annotator) "
                            "BEGIN SELECT RAISE(ABORT, 'autoal: answer conflict: labelled'); END;",
}

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE classes (idx INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE annotations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    example INTEGER NOT NULL REFERENCES examples (pos),
    annotator TEXT NOT NULL,
    label INTEGER NOT NULL REFERENCES classes (idx),
    round INTEGER NOT NULL,
    timestamp REAL NOT NULL,
    UNIQUE (example, annotator)
);
CREATE TABLE assignments (
    round INTEGER NOT NULL,
    example INTEGER NOT NULL REFERENCES examples (pos),
    annotator TEXT NOT NULL,
    assigned_at REAL NOT NULL,
    PRIMARY KEY (round, example, annotator)
);
CREATE TABLE skips (
    example INTEGER NOT NULL REFERENCES examples (pos),
    annotator TEXT NOT NULL,
    round INTEGER NOT NULL,
    timestamp REAL NOT NULL,
    PRIMARY KEY (example, annotator)
);
CREATE TABLE probabilities (
    example INTEGER NOT NULL REFERENCES examples (pos),
    kind TEXT NOT NULL,
    round INTEGER NOT NULL,
    probs BLOB NOT NULL,
    PRIMARY KEY (example, kind)
);
CREATE TABLE rounds (round INTEGER PRIMARY KEY, record TEXT NOT NULL, stop_predictions BLOB);
CREATE TABLE selections (round INTEGER PRIMARY KEY, facts TEXT NOT NULL);
CREATE TRIGGER annotation_changed AFTER UPDATE ON annotations
    BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'edits'; END;
CREATE TRIGGER annotation_removed AFTER DELETE ON annotations
    BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'edits'; END;
CREATE VIEW labels AS
    SELECT e.example_id AS example_id, a.annotator AS annotator, c.name AS label, a.round AS round,
           a.timestamp AS timestamp
    FROM annotations a JOIN examples e ON e.pos = a.example JOIN classes c ON c.idx = a.label ORDER BY a.seq;
""" + "\n".join(ANSWER_GUARDS.values())


class DuplicateAnnotation(InputError):
    """The same annotator labelled the same example twice."""


class AnswerConflict(InputError):
    """A label for an example its annotator skipped, or a skip of one they labelled: one person gives an example
    a label or a skip, never both. ``existing`` is what is stored already: ``"skip"`` or ``"label"``."""

    def __init__(self, message, existing):
        super().__init__(message)
        self.existing = existing


def ensure_answer_guards(db) -> None:
    """Add :data:`ANSWER_GUARDS` to a store that lacks them (a store made before they existed)."""
    present = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    for name, sql in ANSWER_GUARDS.items():
        if name not in present:
            db.execute(sql.replace("CREATE TRIGGER", "CREATE TRIGGER IF NOT EXISTS", 1))


def _conflict(exc, example, annotator):
    """The AnswerConflict an answer-guard trigger's IntegrityError stands for, or None for another error."""
    text = str(exc)
    if "answer conflict: skipped" in text:
        return AnswerConflict(f"annotator {annotator!r} skipped the example at position {example}; a person gives an "
                              "example a label or a skip, not both (change the skip instead)", "skip")
    if "answer conflict: labelled" in text:
        return AnswerConflict(f"annotator {annotator!r} labelled the example at position {example}; a person gives an "
                              "example a label or a skip, not both", "label")
    return None


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), timeout=60, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    return db


def _blob(array, dtype) -> bytes:
    return np.ascontiguousarray(array, dtype=dtype).tobytes()


class RunStore:
    """The SQLite file holding one run's state; open it with :meth:`open` or make it with :meth:`create`.

    Every write method commits before it returns, so whatever it wrote survives a crash right after.
    """

    def __init__(self, db: sqlite3.Connection, path: Path):
        self._db, self.path = db, Path(path)
        meta = self.meta()
        self.run_id = meta["run_id"]

    # -- opening -----------------------------------------------------------------------------------

    @classmethod
    def create(cls, path, *, meta: dict, data, label, annotations=()) -> "RunStore":
        """Write a new store for ``data`` (a :class:`autoal.data.prepare.PreparedData`) at ``path``, atomically.

        The file is built under a temporary name and renamed into place when complete, so a crash
        while creating it leaves no store at ``path``. ``meta`` holds the JSON-able facts to keep
        (settings, the data's description); ``run_id``, ``created`` and ``schema_version`` are added.
        ``annotations`` (``(example, annotator, label, round)`` rows, e.g. the labels a real-mode
        DataFrame arrives with) are stored with it.
        """
        path = Path(path)
        if holds_data(path):  # callers refuse such a folder first (autoal.store.run_state.store_in_the_way)
            raise InputError(f"{str(path)!r} already holds data; a new run store is not written over it")
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            leftover.unlink(missing_ok=True)
        specs = example_table.column_specs(data.frame, skip=(label,))
        db = sqlite3.connect(str(tmp), isolation_level=None)
        try:
            db.executescript(example_table.create_table_sql(specs) + ";" + _SCHEMA)
            db.execute("BEGIN")
            db.executemany("INSERT INTO classes VALUES (?, ?)", [(k, str(c)) for k, c in enumerate(data.classes)])
            start = example_table.insert_frame(db, data.frame, specs, split="pool", start=0, label=label,
                                               initial_ids=data.initial_ids)
            example_table.insert_frame(db, data.test, specs, split="test", start=start, label=label)
            now = time.time()
            db.executemany("INSERT INTO annotations (example, annotator, label, round, timestamp) VALUES (?, ?, ?, ?, ?)",
                           [(int(e), str(a), int(lab), int(r), now) for e, a, lab, r in annotations])
            values = dict(meta, schema_version=SCHEMA_VERSION, run_id=uuid.uuid4().hex, edits=0, columns=specs,
                          created=time.strftime("%Y-%m-%dT%H:%M:%S"))
            db.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in values.items()])
            db.execute("COMMIT")
        finally:
            db.close()
        for companion in ("-wal", "-shm", "-journal"):  # stale ones (of an empty file, or of a store moved away):
            Path(f"{path}{companion}").unlink(missing_ok=True)  # SQLite would replay their pages over the new store
        os.replace(tmp, path)
        return cls(_connect(path), path)

    @classmethod
    def open(cls, path) -> "RunStore":
        """Open an existing store; InputError when it is not one or is from another schema version, and
        :class:`~autoal.store.store_check.DamagedStore` when it is damaged (see :mod:`autoal.store.store_check`)."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{str(path)!r} does not exist; pass the folder of a run made by autoal")
        if not holds_data(path):  # left as it is, so that a new run can still take the folder
            raise InputError(f"{str(path)!r} is empty: no run was written to it; start a new run in that folder, or "
                             "pass the folder of a run made by autoal")
        try:  # read-only first: a file that is not a run store is left as it was (a read-write open makes it WAL)
            tables = read_only_tables(path)
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{str(path)!r} is not an autoal run store, or is damaged ({exc}); point at a run folder "
                             "made by autoal, or restore its run.sqlite from a copy") from exc
        if not IDENTIFYING_TABLES <= tables:
            raise InputError(f"{str(path)!r} is a SQLite file but not an autoal run store")
        db = _connect(path)
        try:
            cls._check_version(db, path)
            check_store(db, path)  # a damaged store is named here, before anything is read from it
            ensure_answer_guards(db)
            return cls(db, path)
        except BaseException:
            db.close()
            raise

    @staticmethod
    def _check_version(db, path) -> None:
        try:
            version = json.loads(dict(db.execute("SELECT key, value FROM meta")).get("schema_version", "0"))
        except (sqlite3.DatabaseError, ValueError, TypeError):
            version = None
        if not isinstance(version, int):
            raise DamagedStore(f"the run store {str(path)!r} is damaged: its schema_version cannot be read; restore "
                               "run.sqlite from a copy, or start a new run")
        if version != SCHEMA_VERSION:
            newer = version > SCHEMA_VERSION
            raise InputError(
                f"run store {str(path)!r} has schema version {version}; this autoal reads version {SCHEMA_VERSION}: "
                + ("upgrade autoal (pip install -U autoal) to open it" if newer else "start a new run")
            )

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    # -- meta and examples -------------------------------------------------------------------------

    def meta(self) -> dict:
        """Every ``meta`` entry, decoded from JSON."""
        return {k: json.loads(v) for k, v in self._db.execute("SELECT key, value FROM meta")}

    def set_meta(self, key, value) -> None:
        """Set one ``meta`` entry (JSON-encoded)."""
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def read_examples(self, label) -> tuple:
        """``(pool frame, initial ids, test frame)`` as stored, with their dtypes."""
        specs = self.meta()["columns"]
        frame, initial = example_table.read_frame(self._db, specs, split="pool", label=label)
        test, _ = example_table.read_frame(self._db, specs, split="test", label=label)
        return frame, initial, test

    def example_ids(self, positions) -> list:
        """The ids of the pool examples at ``positions``, in that order."""
        positions = [int(p) for p in positions]
        found = {}
        for lo in range(0, len(positions), 900):  # SQLite limits the number of bound parameters
            chunk = positions[lo:lo + 900]
            rows = self._db.execute(f"SELECT pos, example_id FROM examples WHERE pos IN ({','.join('?' * len(chunk))})",
                                    chunk)
            found.update((p, example_table.decode_value(t)) for p, t in rows)
        return [found[p] for p in positions]

    def example_column(self, positions, column) -> list:
        """The values of feature ``column`` for the examples at ``positions``, in that order."""
        spec = next((s for s in self.meta()["columns"] if s["name"] == column), None)
        if spec is None:
            raise InputError(f"the run has no column {column!r}")
        positions = [int(p) for p in positions]
        found = {}
        for lo in range(0, len(positions), 900):
            chunk = positions[lo:lo + 900]
            rows = self._db.execute(f"SELECT pos, {spec['sql']} FROM examples WHERE pos IN ({','.join('?' * len(chunk))})",
                                    chunk)
            found.update(rows)
        return [found[p] for p in positions]

    # -- annotations -------------------------------------------------------------------------------

    def add(self, example, annotator, label, round) -> int:
        """Commit one annotation now and return its sequence number.

        Raises
        ------
        DuplicateAnnotation
            When this annotator already labelled this example.
        """
        try:
            cursor = self._db.execute(
                "INSERT INTO annotations (example, annotator, label, round, timestamp) VALUES (?, ?, ?, ?, ?)",
                (int(example), str(annotator), int(label), int(round), time.time()))
        except sqlite3.IntegrityError as exc:
            conflict = _conflict(exc, example, annotator)
            if conflict is not None:
                raise conflict from None
            if "UNIQUE" not in str(exc):
                raise
            raise DuplicateAnnotation(f"annotator {annotator!r} already labelled example at position {example}; each "
                                      "annotator labels an example once") from None
        return cursor.lastrowid

    def add_many(self, rows) -> None:
        """Commit ``(example, annotator, label, round[, timestamp])`` rows in one transaction, in order (rows
        already there are skipped; a missing timestamp is now)."""
        now = time.time()
        with self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO annotations (example, annotator, label, round, timestamp) VALUES (?, ?, ?, ?, ?)",
                [(int(e), str(a), int(lab), int(r), float(rest[0]) if rest else now) for e, a, lab, r, *rest in rows])

    def change_label(self, example, annotator, label) -> bool:
        """Replace an annotator's label of an example; False when there was none."""
        cursor = self._db.execute("UPDATE annotations SET label = ?, timestamp = ? WHERE example = ? AND annotator = ?",
                                  (int(label), time.time(), int(example), str(annotator)))
        return cursor.rowcount > 0

    def remove(self, example, annotator) -> bool:
        """Withdraw an annotator's label of an example (undo); False when there was none."""
        cursor = self._db.execute("DELETE FROM annotations WHERE example = ? AND annotator = ?", (int(example), str(annotator)))
        return cursor.rowcount > 0

    def annotations_after(self, seq=0) -> dict:
        """Annotations with sequence number above ``seq``, oldest first, as arrays.

        Returns
        -------
        dict
            ``seq``, ``example``, ``label``, ``round`` (int64 arrays), ``timestamp`` (float64) and
            ``annotator`` (object array of names).
        """
        rows = self._db.execute("SELECT seq, example, label, round, timestamp, annotator FROM annotations "
                                "WHERE seq > ? ORDER BY seq", (int(seq),)).fetchall()
        columns = list(zip(*rows)) if rows else [()] * 6
        out = {name: np.array(values, dtype=np.int64) for name, values in zip(("seq", "example", "label", "round"), columns)}
        out["timestamp"] = np.array(columns[4], dtype=np.float64)
        out["annotator"] = np.array(columns[5], dtype=object)
        return out

    def edits(self) -> int:
        """How many times an annotation was changed or removed (a reader's cue to reload all of them)."""
        return int(self._db.execute("SELECT value FROM meta WHERE key = 'edits'").fetchone()[0])

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM annotations").fetchone()[0]

    # -- assignments and skips ---------------------------------------------------------------------

    def assign(self, round, pairs, *, probabilities=None, facts=None) -> None:
        """Record that in ``round`` each ``(example, annotator)`` of ``pairs`` was asked for a label.

        ``probabilities`` (``{example: probs}``, the model's prediction when it picked the example)
        and ``facts`` (a JSON-able dict about the selection) are written in the same transaction.
        """
        now = time.time()
        with self._transaction():
            self._db.executemany("INSERT OR IGNORE INTO assignments VALUES (?, ?, ?, ?)",
                                 [(int(round), int(e), str(a), now) for e, a in pairs])
            if probabilities:
                self._put_probabilities("pick", round, probabilities)
            if facts is not None:
                self._db.execute("INSERT OR REPLACE INTO selections VALUES (?, ?)", (int(round), json.dumps(facts, default=json_default)))

    def add_selection_facts(self, round, **facts) -> None:
        """Add ``facts`` to those saved with ``round``'s selection (a round without any gets them alone)."""
        with self._transaction():
            merged = dict(self.selection(round), **facts)
            self._db.execute("INSERT OR REPLACE INTO selections VALUES (?, ?)", (int(round), json.dumps(merged, default=json_default)))

    def selection(self, round) -> dict:
        """The facts saved with ``round``'s assignments (empty when none were)."""
        row = self._db.execute("SELECT facts FROM selections WHERE round = ?", (int(round),)).fetchone()
        return json.loads(row[0]) if row else {}

    def assignments(self) -> dict:
        """Every assignment in the order made: ``round``, ``example`` (int64), ``annotator`` (object), ``assigned_at``."""
        rows = self._db.execute("SELECT round, example, annotator, assigned_at FROM assignments ORDER BY rowid").fetchall()
        columns = list(zip(*rows)) if rows else [()] * 4
        return {"round": np.array(columns[0], dtype=np.int64), "example": np.array(columns[1], dtype=np.int64),
                "annotator": np.array(columns[2], dtype=object), "assigned_at": np.array(columns[3], dtype=np.float64)}

    def reassign(self, example, old_annotator, new_annotator, round) -> None:
        """Move an unanswered assignment to another annotator (one transaction)."""
        with self._transaction():
            self._db.execute("DELETE FROM assignments WHERE example = ? AND annotator = ?", (int(example), str(old_annotator)))
            self._db.execute("INSERT OR IGNORE INTO assignments VALUES (?, ?, ?, ?)",
                             (int(round), int(example), str(new_annotator), time.time()))

    def skip(self, example, annotator, round) -> None:
        """Record that ``annotator`` could not label ``example``; it is not asked of them again.

        Raises
        ------
        AnswerConflict
            When this annotator labelled this example (a skip already stored is left as it is).
        """
        try:
            self._db.execute("INSERT OR IGNORE INTO skips VALUES (?, ?, ?, ?)",
                             (int(example), str(annotator), int(round), time.time()))
        except sqlite3.IntegrityError as exc:
            conflict = _conflict(exc, example, annotator)
            if conflict is None:
                raise
            raise conflict from None

    def unskip(self, example, annotator) -> bool:
        """Withdraw an annotator's skip of an example (they label it after all, or undo the skip); False when
        there was none."""
        cursor = self._db.execute("DELETE FROM skips WHERE example = ? AND annotator = ?", (int(example), str(annotator)))
        return cursor.rowcount > 0

    def skips(self) -> dict:
        """Every skip: ``example`` (int64), ``annotator`` (object), ``round`` (int64)."""
        rows = self._db.execute("SELECT example, annotator, round FROM skips ORDER BY rowid").fetchall()
        columns = list(zip(*rows)) if rows else [()] * 3
        return {"example": np.array(columns[0], dtype=np.int64), "annotator": np.array(columns[1], dtype=object),
                "round": np.array(columns[2], dtype=np.int64)}

    # -- probabilities and rounds ------------------------------------------------------------------

    def _put_probabilities(self, kind, round, probabilities) -> None:
        self._db.executemany("INSERT OR REPLACE INTO probabilities VALUES (?, ?, ?, ?)",
                             [(int(e), kind, int(round), _blob(p, "<f8")) for e, p in probabilities.items()])

    def save_probabilities(self, kind, round, probabilities) -> None:
        """Keep ``{example: probs}`` of one ``kind`` (``"pick"`` or ``"cv"``), in one transaction."""
        with self._transaction():
            self._put_probabilities(kind, round, probabilities)

    def probabilities(self, kind, n_classes) -> tuple:
        """``(examples (int64), probs (n, n_classes) float64)`` of one kind."""
        rows = self._db.execute("SELECT example, probs FROM probabilities WHERE kind = ? ORDER BY example", (kind,)).fetchall()
        examples = np.array([e for e, _ in rows], dtype=np.int64)
        probs = np.frombuffer(b"".join(p for _, p in rows), dtype="<f8").reshape(len(rows), n_classes) if rows \
            else np.zeros((0, n_classes))
        return examples, probs.copy()

    def record_round(self, round, record: dict, stop_predictions=None) -> None:
        """Keep a finished round's history row and its stop-set predictions (replacing an earlier record)."""
        blob = None if stop_predictions is None else _blob(stop_predictions, "<i4")
        self._db.execute("INSERT OR REPLACE INTO rounds VALUES (?, ?, ?)", (int(round), json.dumps(record, default=json_default), blob))

    def rounds(self) -> list:
        """``[(record, stop_predictions or None), ...]`` of the finished rounds, in order."""
        rows = self._db.execute("SELECT record, stop_predictions FROM rounds ORDER BY round").fetchall()
        return [(json.loads(r), None if b is None else np.frombuffer(b, dtype="<i4").copy()) for r, b in rows]

    # -- helpers -----------------------------------------------------------------------------------

    def _transaction(self):
        return Transaction(self._db)


class Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error) on an autocommit connection."""

    def __init__(self, db):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind, value, traceback):
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
        return False
