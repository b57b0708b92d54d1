"""The labelling server's own tables in ``run.sqlite``, and the connection the server works through.

``autoal serve`` adds four tables to a run store (created on first use, never changed since, so that
run folders served by earlier versions keep working):

- ``server_tokens(role, name, hash, created)``: the SHA-256 hash of each personal link's token.
- ``server_settings(key, value)``: the server's settings and marks, JSON-encoded values.
- ``server_seen(name, last_seen)``: when each annotator was last seen.
- ``server_actions(seq, annotator, example, kind, label, previous, round, timestamp, undone)``: every
  answer, skip and edit given on the page, oldest first, so that ``undo`` knows what to withdraw.

Every function takes an open connection (from :func:`connect`) and runs in autocommit, except
:func:`write_settings`, which is one ``BEGIN IMMEDIATE`` transaction; called inside a caller's
:class:`~autoal.store.run_store.Transaction` they become part of it.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import NamedTuple

from autoal.store.run_store import Transaction, _connect
from autoal.store.store_check import DamagedStore

__all__ = [
    "SERVER_TABLES",
    "Action",
    "connect",
    "ensure_tables",
    "save_token_hash",
    "has_token",
    "token_hashes",
    "read_settings",
    "read_setting",
    "write_setting",
    "write_settings",
    "mark_seen",
    "last_seen",
    "log_action",
    "last_action",
    "mark_undone",
    "has_undoable_action",
    "recently_acted_on",
]

SERVER_TABLES = """
CREATE TABLE IF NOT EXISTS server_tokens (
    role TEXT NOT NULL, name TEXT NOT NULL, hash TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (role, name));
CREATE TABLE IF NOT EXISTS server_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS server_seen (name TEXT PRIMARY KEY, last_seen REAL NOT NULL);
CREATE TABLE IF NOT EXISTS server_actions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, annotator TEXT NOT NULL, example INTEGER NOT NULL, kind TEXT NOT NULL,
    label INTEGER, previous INTEGER, round INTEGER NOT NULL, timestamp REAL NOT NULL, undone INTEGER NOT NULL DEFAULT 0);
"""

class Action(NamedTuple):
    """One row of ``server_actions``: ``kind`` is ``"label"``, ``"skip"`` or ``"edit"``; ``previous`` is the
    label an edit replaced (None when it turned a skip into a label)."""

    seq: int
    example: int
    kind: str
    label: int | None
    previous: int | None
    round: int


# -- the connection ------------------------------------------------------------------------------------


def connect(path) -> sqlite3.Connection:
    """A connection to the run store at ``path`` set up as the store's own (WAL, busy timeout, autocommit,
    usable from another thread), with the server's tables created if missing."""
    db = _connect(Path(path))
    ensure_tables(db)
    return db


def ensure_tables(db) -> None:
    """Create the server's tables in a run store (no-op when they exist)."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'server_actions'").fetchone() is None:
        db.executescript(SERVER_TABLES)


# -- tokens --------------------------------------------------------------------------------------------


def save_token_hash(db, role, name, token_hash, created) -> None:
    """Keep the hash of ``(role, name)``'s token, replacing an earlier one (which then stops working)."""
    db.execute("INSERT OR REPLACE INTO server_tokens VALUES (?, ?, ?, ?)", (role, name, token_hash, created))


def has_token(db, role, name) -> bool:
    """Whether a token hash is kept for ``(role, name)``."""
    return db.execute("SELECT 1 FROM server_tokens WHERE role = ? AND name = ?", (role, name)).fetchone() is not None


def token_hashes(db) -> list:
    """Every kept token hash: ``[(role, name, hash), ...]``."""
    return db.execute("SELECT role, name, hash FROM server_tokens").fetchall()


# -- settings and marks --------------------------------------------------------------------------------


def _decoded(key, text):
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        raise DamagedStore(f"the labelling server's setting {key!r} in run.sqlite is not JSON ({str(text)[:60]!r}); "
                           "was it edited by hand? Delete it (it goes back to its default): `sqlite3 RUN_DIR/run.sqlite "
                           f"\"DELETE FROM server_settings WHERE key = '{key}'\"`") from None


def read_settings(db) -> dict:
    """Every ``server_settings`` entry, decoded from JSON (DamagedStore naming one that is not JSON)."""
    return {k: _decoded(k, v) for k, v in db.execute("SELECT key, value FROM server_settings")}


def read_setting(db, key, default=None):
    """One ``server_settings`` entry decoded from JSON, or ``default`` when it was never written."""
    row = db.execute("SELECT value FROM server_settings WHERE key = ?", (key,)).fetchone()
    return default if row is None else _decoded(key, row[0])


def write_setting(db, key, value) -> None:
    """Set one ``server_settings`` entry (JSON-encoded), committed at once unless in a transaction."""
    db.execute("INSERT OR REPLACE INTO server_settings VALUES (?, ?)", (key, json.dumps(value)))


def write_settings(db, values: dict) -> None:
    """Set several ``server_settings`` entries in one ``BEGIN IMMEDIATE`` transaction (all or none)."""
    with Transaction(db):
        db.executemany("INSERT OR REPLACE INTO server_settings VALUES (?, ?)",
                       [(k, json.dumps(v)) for k, v in values.items()])


# -- who was seen when ---------------------------------------------------------------------------------


def mark_seen(db, name, when) -> None:
    """Record that annotator ``name`` was seen at ``when`` (seconds since the epoch)."""
    db.execute("INSERT OR REPLACE INTO server_seen VALUES (?, ?)", (name, when))


def last_seen(db) -> dict:
    """``{name: time last seen}`` of every annotator seen so far."""
    return dict(db.execute("SELECT name, last_seen FROM server_seen").fetchall())


# -- the action log ------------------------------------------------------------------------------------


def log_action(db, annotator, example, kind, label, previous, round_, timestamp) -> None:
    """Append one answer, skip or edit of ``annotator`` to the action log (see :class:`Action`)."""
    db.execute("INSERT INTO server_actions (annotator, example, kind, label, previous, round, timestamp) "
               "VALUES (?, ?, ?, ?, ?, ?, ?)", (annotator, example, kind, label, previous, round_, timestamp))


def last_action(db, annotator) -> Action | None:
    """``annotator``'s latest action not undone yet, or None when there is none."""
    row = db.execute("SELECT seq, example, kind, label, previous, round FROM server_actions "
                     "WHERE annotator = ? AND undone = 0 ORDER BY seq DESC LIMIT 1", (annotator,)).fetchone()
    return None if row is None else Action(*row)


def mark_undone(db, seq) -> None:
    """Mark the action numbered ``seq`` as undone."""
    db.execute("UPDATE server_actions SET undone = 1 WHERE seq = ?", (seq,))


def has_undoable_action(db, annotator) -> bool:
    """Whether ``annotator`` has an action that is not undone."""
    return db.execute("SELECT EXISTS (SELECT 1 FROM server_actions WHERE annotator = ? AND undone = 0)",
                      (annotator,)).fetchone()[0] == 1


def recently_acted_on(db, annotator, limit) -> list:
    """The examples of ``annotator``'s actions not undone, the most recently acted on first (at most ``limit``)."""
    rows = db.execute("SELECT example, MAX(seq) AS last FROM server_actions WHERE annotator = ? AND undone = 0 "
                      "GROUP BY example ORDER BY last DESC LIMIT ?", (annotator, limit)).fetchall()
    return [example for example, _ in rows]
