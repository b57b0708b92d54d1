"""One process drives a run's rounds at a time: an OS file lock on ``RUN_DIR/run.lock``, beside the store.

``autoal run``, ``resume``, ``serve`` and ``labelstudio sync`` select batches, train and record rounds;
two of them on one run would train the same round twice and rewrite each other's records. Each takes
this lock when it opens the run and holds it for as long as it drives it (until its
:class:`~autoal.store.run_state.RunState` is closed, or the process ends). A second one gets
:class:`RunLocked`, whose message names the process holding the run (PID, command, since when).
Commands that only add answers (``import-labels``, ``labelstudio pull``, ``annotators add``) or only
read (``export-labels``, ``annotators list``) do not take it: SQLite's own transactions keep their
writes whole.

Why ``fcntl.flock`` on an open file, and not a lock file that exists or not (or the ``filelock``
package): the kernel drops an flock when its process ends in any way, ``kill -9`` included, so a
crashed server never leaves a stale lock to delete by hand; and the file can hold the holder's PID
and command, written after the lock is taken, for the message (``filelock`` truncates the file on
every attempt to take it, which would wipe that). Within one process the lock is re-entrant (a test
or a notebook may open the same run twice); across processes it is exclusive. Where ``fcntl`` does not
exist (Windows) no lock is taken and a warning says so.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import warnings
from pathlib import Path

from autoal.errors import InputError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["LOCK_FILE", "RunLocked", "WriterLock"]

LOCK_FILE = "run.lock"

#: ``{lock path: [file descriptor, how many holders in this process]}``
_HELD: dict = {}
_GUARD = threading.Lock()


class RunLocked(InputError):
    """Another process drives the run's rounds (it holds ``RUN_DIR/run.lock``)."""


def _command() -> str:
    """This process's command line as people typed it, with the value of ``--token`` left out."""
    words = [Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"] + sys.argv[1:]
    if words[0] in ("__main__.py", "-m"):
        words[0] = "autoal"
    shown, hide = [], False
    for word in words:
        shown.append("***" if hide else (word.split("=", 1)[0] + "=***" if word.startswith("--token=") else word))
        hide = word == "--token"
    return " ".join(shown)


class WriterLock:
    """The lock on one run folder, taken by :meth:`acquire`, given back by :meth:`release` (once).

    Parameters
    ----------
    path : Path
        The lock file.
    """

    def __init__(self, path: Path):
        self.path = path
        self._released = False

    @classmethod
    def acquire(cls, folder) -> "WriterLock":
        """Take the lock of the run in ``folder`` (which must exist).

        Raises
        ------
        RunLocked
            When another process holds it; the message names that process and what to do.
        """
        path = (Path(folder) / LOCK_FILE).resolve()
        if fcntl is None:  # pragma: no cover - Windows
            warnings.warn("no OS file locks on this platform: make sure only one autoal process drives this run",
                          stacklevel=2)
            return cls(path)
        with _GUARD:
            held = _HELD.get(path)
            if held is not None:
                held[1] += 1
                return cls(path)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # no O_TRUNC: the holder's facts stay readable
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise RunLocked(_locked_message(Path(folder), path)) from None
            _write_holder(fd)
            _HELD[path] = [fd, 1]
        return cls(path)

    def release(self) -> None:
        """Give the lock back (the file stays, unlocked); a second call does nothing."""
        if self._released or fcntl is None:
            return
        self._released = True
        with _GUARD:
            held = _HELD.get(self.path)
            if held is None:
                return
            held[1] -= 1
            if held[1] == 0:
                del _HELD[self.path]
                os.close(held[0])  # closing the descriptor releases the flock

    @staticmethod
    def holder(folder) -> dict | None:
        """``{"pid", "command", "host", "since"}`` written by the process that holds (or last held) the lock."""
        try:
            return json.loads((Path(folder) / LOCK_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None


def _write_holder(fd) -> None:
    facts = {"pid": os.getpid(), "command": _command(), "host": socket.gethostname(),
             "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(facts).encode("utf-8"), 0)


def _locked_message(folder: Path, path: Path) -> str:
    facts = WriterLock.holder(folder) or {}
    who = (f"process {facts.get('pid', '?')} (`{facts.get('command', '?')}`, on {facts.get('host', '?')} since "
           f"{facts.get('since', '?')})") if facts else "another process"
    return (f"the run in {str(folder)!r} is in use by {who}: only one process may run its rounds at a time "
            f"(it holds {path}). Stop that process first (Ctrl+C where it runs, or `kill {facts.get('pid', 'PID')}`), "
            "or work with it: answers go in through its labelling page, `autoal import-labels` or `autoal labelstudio "
            "pull` meanwhile, and `autoal export-labels` or `autoal annotators list` read the run at any time")
