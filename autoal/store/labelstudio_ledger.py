"""Which Label Studio annotations a run has dealt with: the table ``labelstudio_pulled`` in ``run.sqlite``.

``autoal labelstudio pull`` records each annotation it stored, stored as a skip or rejected, at once
(a pull cut short keeps what it did), with the version of the annotation it read (a digest of its
result). A stored answer or skip is not read again; a rejected one is read again when its version
changed (someone corrected it in Label Studio), and its record then replaced. The table is created on
first use, with the columns ``project`` (Label Studio's address and project, e.g.
``http://localhost:8080/projects/3``), ``annotation`` (Label Studio's annotation id), ``example_id``,
``annotator`` (None when no annotator matched), ``outcome``, ``pulled`` (when) and ``version`` (added
to ledgers made before it; None in their rows).
"""

from __future__ import annotations

import time
from pathlib import Path

from autoal.store.run_store import STORE_FILE, Transaction, _connect

__all__ = ["PullLedger"]

_LEDGER = """
CREATE TABLE IF NOT EXISTS labelstudio_pulled (
    project TEXT NOT NULL, annotation INTEGER NOT NULL, example_id TEXT NOT NULL, annotator TEXT,
    outcome TEXT NOT NULL, pulled REAL NOT NULL, PRIMARY KEY (project, annotation));
"""


class PullLedger:
    """The ``labelstudio_pulled`` table of the run in ``run_dir``, on its own connection (autocommit:
    every :meth:`record` is committed when it returns). Use it as a context manager, or :meth:`close` it.

    Parameters
    ----------
    run_dir : path-like
        The run folder (holding ``run.sqlite``).
    """

    def __init__(self, run_dir):
        self._db = _connect(Path(run_dir) / STORE_FILE)
        try:
            with Transaction(self._db):  # one process at a time: a pull and a sync may open it together
                self._db.execute(_LEDGER)
                columns = {row[1] for row in self._db.execute("PRAGMA table_info(labelstudio_pulled)")}
                if "version" not in columns:  # a ledger made before versions were kept
                    self._db.execute("ALTER TABLE labelstudio_pulled ADD COLUMN version TEXT")
        except BaseException:
            self._db.close()
            raise

    def pulled(self, project) -> dict:
        """``{annotation id: (outcome, version or None)}`` of the annotations of ``project`` recorded so far."""
        rows = self._db.execute("SELECT annotation, outcome, version FROM labelstudio_pulled WHERE project = ?",
                                (project,))
        return {annotation: (outcome, version) for annotation, outcome, version in rows}

    def record(self, project, annotation, example_id, annotator, outcome, when=None, version=None) -> None:
        """Record that ``annotation`` of ``project`` (at ``version``) was dealt with (``outcome``: ``"stored"``,
        ``"skip"`` or ``"rejected"``) at ``when`` (now by default). An annotation recorded as stored or skipped
        keeps that first record; one recorded as rejected gets the new record (it was read again)."""
        self._db.execute(
            "INSERT INTO labelstudio_pulled (project, annotation, example_id, annotator, outcome, pulled, version) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project, annotation) DO UPDATE SET example_id = excluded.example_id, "
            "annotator = excluded.annotator, outcome = excluded.outcome, pulled = excluded.pulled, "
            "version = excluded.version WHERE labelstudio_pulled.outcome = 'rejected'",
            (project, annotation, example_id, annotator, outcome, time.time() if when is None else when, version))

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> "PullLedger":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.close()
