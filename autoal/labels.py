"""The run's labels: one row per annotation, written to ``labels.csv`` the moment it is given."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pandas as pd

__all__ = ["LabelLog"]

COLUMNS = ["example_id", "annotator", "label", "round", "timestamp"]


class LabelLog:
    """Append-only record of annotations, mirrored to a CSV file that is flushed on every write.

    Parameters
    ----------
    path : path-like, optional
        CSV file to append to (created with a header); None keeps the log in memory only.
    """

    def __init__(self, path=None):
        self.path = Path(path) if path is not None else None
        self._rows: list[dict] = []
        if self.path is not None and not self.path.exists():
            with open(self.path, "w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerow(COLUMNS)

    def add(self, example_id, label, *, annotator, round) -> None:
        """Record one annotation and write it to disk at once."""
        row = {"example_id": example_id, "annotator": annotator, "label": label, "round": int(round), "timestamp": time.time()}
        self._rows.append(row)
        if self.path is not None:
            with open(self.path, "a", newline="", encoding="utf-8") as f:
                csv.writer(f).writerow([example_id,
                                        annotator, label, row["round"], f"{row['timestamp']:.3f}"])

    def __len__(self) -> int:
        return len(self._rows)

    def to_frame(self) -> pd.DataFrame:
        """All annotations so far, one row each, in the order given."""
        return pd.DataFrame(self._rows, columns=COLUMNS)
