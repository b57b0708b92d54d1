"""Writing a run's small files atomically: a reader sees the old file or the new one, never half of one.

Every file autoal writes beside its store (``settings.json``, ``history.csv``, ``summary.json``,
``labels.csv``, ``annotators.csv``, the learning-curve PNG, the embedding cache's JSON files) goes
through :func:`write_atomic`: the bytes go to a temporary file in the same folder, are flushed to
disk, and the temporary file replaces the target in one ``os.replace``. A crash (even ``kill -9``)
leaves the previous version in place.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

__all__ = ["write_atomic", "write_json_atomic", "write_csv_atomic"]


def write_atomic(path, data) -> Path:
    """Replace ``path`` with ``data`` (``str``, written as UTF-8, or ``bytes``) in one step.

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_json_atomic(path, obj, *, indent=2) -> Path:
    """Write ``obj`` as JSON (non-JSON values as their ``str``) with :func:`write_atomic`."""
    return write_atomic(path, json.dumps(obj, indent=indent, default=str))


def write_csv_atomic(frame, path, **to_csv_options) -> Path:
    """Write a DataFrame as CSV with :func:`write_atomic` (``to_csv_options`` go to ``DataFrame.to_csv``), its
    text cells written so that a spreadsheet shows them as text (:func:`autoal.common.spreadsheet.to_cell`)."""
    from autoal.common.spreadsheet import spreadsheet_safe

    buffer = io.StringIO()
    spreadsheet_safe(frame).to_csv(buffer, **to_csv_options)
    return write_atomic(path, buffer.getvalue())
