"""Opening an existing run's folder: its settings, data and label store."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

from .errors import InputError
from .store import STORE_FILE, LabelStore

__all__ = ["open_run"]


def open_run(run_dir):
    """Return ``(settings, data, store)`` of the run in ``run_dir``; InputError if it is not one."""
    out = Path(run_dir).expanduser()
    if not (out / "settings.json").is_file() or not (out / "data.pkl").is_file():
        raise InputError(f"{str(out)!r} is not an autoal run folder (no settings.json / data.pkl); pass the folder a run wrote")
    settings = json.loads((out / "settings.json").read_text())
    with open(out / "data.pkl", "rb") as f:
        data = pickle.load(f)
    return settings, data, LabelStore(out / STORE_FILE, run_id=settings["run_id"])
