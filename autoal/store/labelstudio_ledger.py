"""Which Label Studio annotations a run has dealt with: the table ``labelstudio_pulled`` in ``run.sqlite``.

``autoal labelstudio pull`` records each annotation it stored, stored as a skip or rejected, at once
(a pull cut short keeps what it did), and does not read those again. The table is created on first
use, with the columns ``project`` (Label Studio's address and project, e.g.
``http://localhost:8080/projects/3``), ``annotation`` (Label Studio's annotation id), ``example_id``,
``annotator`` (None when no annotator matched), ``outcome`` and ``pulled`` (when).
"""

from __future__ import annotations

import time
from pathlib import Path

from autoal.store.run_store import STORE_FILE, _connect

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
            self._db.executescript(_LEDGER)
        except BaseException:
            self._db.close()
            raise

    def pulled(self, project) -> set:
        """The ids of the annotations of ``project`` recorded so far."""
        rows = self._db.execute("SELECT annotation FROM labelstudio_pulled WHERE project = ?", (project,))
        return {annotation for (annotation,) in rows}

    def record(self, project, annotation, example_id, annotator, outcome, when=None) -> None:
        """Record that ``annotation`` of ``project`` was dealt with (``outcome``: ``"stored"``, ``"skip"`` or
        ``"rejected"``) at ``when`` (now by default); an annotation recorded before keeps its first record."""
        self._db.execute("INSERT OR IGNORE INTO labelstudio_pulled VALUES (?, ?, ?, ?, ?, ?)",
                         (project, annotation, example_id, annotator, outcome, time.time() if when is None else when))

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> "PullLedger":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.close()
