"""Is a run store whole? The checks :meth:`autoal.store.run_store.RunStore.open` runs before anything is read.

A run folder can be damaged: a disk error, a copy cut short, bytes flipped, a person editing
``run.sqlite`` with the ``sqlite3`` shell (which does not enforce foreign keys). Reading on would end in
a traceback somewhere later, or in wrong labels. So opening a store checks, in order:

1. SQLite's own ``PRAGMA quick_check`` (every page and record well formed; about a second per GB);
2. the tables autoal needs are there, with their columns;
3. every ``meta`` value is JSON, the facts the run reads are there with the right types, and the
   settings are a JSON object whose annotator names and specs line up;
4. the class table is ``0..K-1`` and matches the class list in ``meta``;
5. ``PRAGMA foreign_key_check``: every annotation, assignment, skip and probability names an example and
   (annotations) a class that exist: no label index or example out of range;
6. the rounds' records and the selections' facts are JSON, the probabilities hold K numbers each.

Each failure is a :class:`DamagedStore` (an InputError) that names what is wrong and how to recover.

Before a store is opened, what is at its path can be asked without changing it: whether it holds anything
(:func:`holds_data`; an empty file never held a run) and whether it is a run store at all (:func:`is_run_store`,
read-only).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

from autoal.errors import InputError, first_few

__all__ = ["DamagedStore", "check_store", "holds_data", "is_run_store", "read_only_tables", "REQUIRED_COLUMNS",
           "REQUIRED_META", "IDENTIFYING_TABLES"]

#: The tables of a run store and the columns autoal reads from each.
REQUIRED_COLUMNS = {
    "meta": {"key", "value"},
    "classes": {"idx", "name"},
    "examples": {"pos", "split", "example_id", "label", "initial"},
    "annotations": {"seq", "example", "annotator", "label", "round", "timestamp"},
    "assignments": {"round", "example", "annotator", "assigned_at"},
    "skips": {"example", "annotator", "round", "timestamp"},
    "probabilities": {"example", "kind", "round", "probs"},
    "rounds": {"round", "record", "stop_predictions"},
    "selections": {"round", "facts"},
}
#: The tables whose presence makes a SQLite file a run store (whether it is whole is checked afterwards).
IDENTIFYING_TABLES = frozenset({"meta", "annotations"})
#: ``meta`` entries the run reads, and the JSON type each must have.
REQUIRED_META = {"schema_version": int, "run_id": str, "edits": int, "settings": dict, "label": (str, int),
                 "classes": list, "mode": str, "holdout": str, "dropped": list, "columns": list,
                 "column_order": list}


class DamagedStore(InputError):
    """The run store is damaged or was edited into a state autoal cannot read."""


def _damaged(path, what) -> DamagedStore:
    return DamagedStore(
        f"the run store {str(path)!r} is damaged: {what}. Nothing was changed. Restore run.sqlite from a copy "
        "(e.g. a backup of the run folder), or salvage what SQLite can read into a new file with "
        f"`sqlite3 {path} .recover | sqlite3 recovered.sqlite` and look at it; then start a new run if need be")


def holds_data(path) -> bool:
    """Whether ``path`` holds anything: a file that is not empty, or a folder. An empty file is an empty database
    to SQLite, which then discards any write-ahead log beside it as stale."""
    path = Path(path)
    return path.exists() and (not path.is_file() or path.stat().st_size > 0)


def is_run_store(path) -> bool:
    """Whether ``path`` is a SQLite file with an autoal run store's tables. Read-only: the file is never changed nor
    made, though opening a database kept in WAL mode leaves its ``-wal`` and ``-shm`` companions beside it."""
    try:
        return IDENTIFYING_TABLES <= read_only_tables(path)
    except sqlite3.Error:
        return False


def read_only_tables(path) -> set:
    """The names of the tables in the SQLite file at ``path``, opened read-only (sqlite3.Error when it is not one)."""
    with contextlib.closing(sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True)) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def check_store(db: sqlite3.Connection, path: Path) -> dict:
    """Run the checks of the module's docstring on an open store; return its ``meta``, decoded.

    Raises
    ------
    DamagedStore
        Naming the first problem found.
    """
    try:
        _check_pages(db, path)
        _check_tables(db, path)
        meta = _check_meta(db, path)
        _check_classes(db, path, meta["classes"])
        _check_references(db, path)
        _check_records(db, path, len(meta["classes"]))
    except sqlite3.DatabaseError as exc:  # what a damaged file raises while being read
        raise _damaged(path, f"SQLite cannot read it ({exc})") from None
    return meta


def _check_pages(db, path) -> None:
    problems = [row[0] for row in db.execute("PRAGMA quick_check(5)")]
    if problems != ["ok"]:
        raise _damaged(path, f"SQLite's integrity check found {first_few(problems, 5)}")


def _check_tables(db, path) -> None:
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = sorted(set(REQUIRED_COLUMNS) - tables)
    if missing:
        raise _damaged(path, f"its tables {missing} are missing")
    for table, needed in REQUIRED_COLUMNS.items():
        columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if not needed <= columns:
            raise _damaged(path, f"table {table!r} lacks the columns {sorted(needed - columns)}")


def _check_meta(db, path) -> dict:
    meta = {}
    for key, text in db.execute("SELECT key, value FROM meta"):
        try:
            meta[key] = json.loads(text)
        except (TypeError, ValueError):
            raise _damaged(path, f"its meta entry {key!r} is not JSON ({str(text)[:60]!r})") from None
    for key, kind in REQUIRED_META.items():
        if key not in meta:
            raise _damaged(path, f"its meta entry {key!r} is missing")
        if not isinstance(meta[key], kind) or isinstance(meta[key], bool):
            raise _damaged(path, f"its meta entry {key!r} is {type(meta[key]).__name__}, not "
                                 f"{getattr(kind, '__name__', 'text or a number')}")
    _check_settings(path, meta["settings"])
    return meta


def _check_settings(path, settings) -> None:
    names, specs = settings.get("annotator_names", []), settings.get("annotators", None)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _damaged(path, "its settings' annotator_names is not a list of names")
    if specs is not None and (not isinstance(specs, list) or len(specs) != len(names)
                              or not all(s is None or isinstance(s, dict) for s in specs)):
        raise _damaged(path, "its settings' annotators do not match annotator_names one to one")
    for key, kind in (("label", (str, int)), ("n_rounds", int), ("batch_size", int)):
        if key in settings and (not isinstance(settings[key], kind) or isinstance(settings[key], bool)):
            raise _damaged(path, f"its settings' {key} is {settings[key]!r}")


def _check_classes(db, path, classes) -> None:
    rows = db.execute("SELECT idx, name FROM classes ORDER BY idx").fetchall()
    if [idx for idx, _ in rows] != list(range(len(classes))) or [n for _, n in rows] != [str(c) for c in classes]:
        raise _damaged(path, f"its class table ({len(rows)} rows) does not match its class list ({len(classes)} "
                             "classes)")


def _check_references(db, path) -> None:
    broken = db.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        tables = sorted({row[0] for row in broken})
        what = {"annotations": "a label index or an example that does not exist"}.get(tables[0], "an example that does not exist")
        raise _damaged(path, f"{len(broken)} rows of {tables} name {what} (e.g. {tables[0]} row {broken[0][1]}); "
                             "was it edited by hand?")


def _check_records(db, path, n_classes) -> None:
    for table, column in (("rounds", "record"), ("selections", "facts")):
        for key, text in db.execute(f"SELECT round, {column} FROM {table}"):
            try:
                json.loads(text)
            except (TypeError, ValueError):
                raise _damaged(path, f"the {column} of round {key} in {table!r} is not JSON") from None
    bad = db.execute("SELECT COUNT(*) FROM probabilities WHERE typeof(probs) != 'blob' OR length(probs) != ?",
                     (8 * n_classes,)).fetchone()[0]
    if bad:
        raise _damaged(path, f"{bad} stored probability rows do not hold {n_classes} numbers")
