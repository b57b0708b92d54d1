"""The label store: every annotation a row in a SQLite database in the run's folder, append-only.

Tables (schema version 1, plain SQL so that a server database could take SQLite's place):

- ``meta(key, value)``: ``schema_version``, ``run_id``, ``created``.
- ``annotations(seq, example_id, annotator, label, round, timestamp)``: one row per annotation,
  unique per (example, annotator); ids and labels are JSON text so ints stay ints.
- ``assignments(round, example_id, annotator)``: who was asked for what in each round, so a stopped
  batch can be finished later.

Each annotation is committed the moment it is given. Several processes may write at once
(WAL journal, busy timeout): writes are serialised by SQLite, none is lost.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError

__all__ = ["LabelStore", "DuplicateAnnotation", "SCHEMA_VERSION", "STORE_FILE"]

SCHEMA_VERSION = 1
STORE_FILE = "labels.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS annotations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    example_id TEXT NOT NULL,
    annotator TEXT NOT NULL,
    label TEXT NOT NULL,
    round INTEGER NOT NULL,
    timestamp REAL NOT NULL,
    UNIQUE (example_id, annotator)
);
CREATE TABLE IF NOT EXISTS assignments (
    round INTEGER NOT NULL,
    example_id TEXT NOT NULL,
    annotator TEXT NOT NULL,
    PRIMARY KEY (round, example_id, annotator)
);
"""


class DuplicateAnnotation(InputError):
    """The same annotator labelled the same example twice."""


def _encode(value) -> str:
    return json.dumps(value.item() if hasattr(value, "item") else value)


class LabelStore:
    """Append-only annotations of one run, in ``RUN_DIR/labels.sqlite``.

    Parameters
    ----------
    path : path-like
        The database file; created (with a new run id) if it does not exist.
    run_id : str, optional
        When given, the store must belong to this run, or InputError is raised.
    """

    def __init__(self, path, *, run_id=None):
        self.path = Path(path)
        new = not self.path.exists()
        try:
            self._db = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{str(self.path)!r} is not an autoal label store ({exc}); point at a run folder made by autoal") from exc
        if not new and "meta" not in tables:
            raise InputError(f"{str(self.path)!r} is a SQLite file but not an autoal label store")
        if new or not tables:
            self._db.executescript(_SCHEMA)
            self._set_meta({"schema_version": str(SCHEMA_VERSION), "run_id": run_id or uuid.uuid4().hex,
                            "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
        self._check(run_id)

    def _set_meta(self, values):
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR IGNORE INTO meta VALUES (?, ?)", list(values.items()))

    def _check(self, run_id):
        meta = dict(self._db.execute("SELECT key, value FROM meta"))
        version = int(meta.get("schema_version", "0"))
        if version > SCHEMA_VERSION:
            raise InputError(
                f"label store {str(self.path)!r} has schema version {version}, newer than this autoal's "
                f"{SCHEMA_VERSION}; upgrade autoal (pip install -U autoal) to open it"
            )
        if run_id is not None and meta.get("run_id") != run_id:
            raise InputError(
                f"label store {str(self.path)!r} belongs to run {meta.get('run_id')}, not to run {run_id}; "
                "it was copied from another run folder: put back this run's labels.sqlite"
            )
        self.run_id = meta["run_id"]

    def add(self, example_id, annotator, label, round) -> None:
        """Commit one annotation now. Raises DuplicateAnnotation if this annotator already labelled it."""
        try:
            self._db.execute(
                "INSERT INTO annotations (example_id, annotator, label, round, timestamp) VALUES (?, ?, ?, ?, ?)",
                (_encode(example_id), str(annotator), _encode(label), int(round), time.time()),
            )
        except sqlite3.IntegrityError:
            raise DuplicateAnnotation(
                f"annotator {annotator!r} already labelled example {example_id!r}; each annotator labels an example once"
            ) from None

    def assign(self, round, pairs) -> None:
        """Record that in ``round`` each ``(example_id, annotator)`` of ``pairs`` was asked for a label."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT OR IGNORE INTO assignments VALUES (?, ?, ?)",
                [(int(round), _encode(e), str(a)) for e, a in pairs],
            )

    def annotations(self) -> pd.DataFrame:
        """Every annotation in the order given: ``example_id, annotator, label, round, timestamp``."""
        rows = self._db.execute("SELECT example_id, annotator, label, round, timestamp FROM annotations ORDER BY seq").fetchall()
        return pd.DataFrame(
            [(json.loads(e), a, json.loads(lab), r, t) for e, a, lab, r, t in rows],
            columns=["example_id", "annotator", "label", "round", "timestamp"],
        )

    def assignments(self, round=None, *, pending_only=False) -> pd.DataFrame:
        """Who was asked what (``round, example_id, annotator``); ``pending_only`` keeps the unanswered."""
        sql = "SELECT s.round, s.example_id, s.annotator FROM assignments s"
        if pending_only:
            sql += " LEFT JOIN annotations a ON a.example_id = s.example_id AND a.annotator = s.annotator WHERE a.seq IS NULL"
        params = ()
        if round is not None:
            sql += (" AND" if pending_only else " WHERE") + " s.round = ?"
            params = (int(round),)
        rows = self._db.execute(sql + " ORDER BY s.rowid", params).fetchall()
        return pd.DataFrame([(r, json.loads(e), a) for r, e, a in rows], columns=["round", "example_id", "annotator"])

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM annotations").fetchone()[0]

    def matrix(self, ids, annotators, classes) -> np.ndarray:
        """The wide ``labels_multiannotator`` view cleanlab expects.

        Returns a float array of shape (len(ids), len(annotators)): the class index (position in
        ``classes``) each annotator gave each example, NaN where none.
        """
        row = {i: k for k, i in enumerate(ids)}
        col = {a: k for k, a in enumerate(annotators)}
        index = {c: k for k, c in enumerate(classes)}
        out = np.full((len(ids), len(annotators)), np.nan)
        for e, a, lab in zip(*(self.annotations()[c] for c in ("example_id", "annotator", "label"))):
            if e in row and a in col:
                out[row[e], col[a]] = index[lab]
        return out

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()
