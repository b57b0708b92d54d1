"""Manifests: CSV files with ``label,image_path`` columns, paths relative to the CSV's folder."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from autoal.errors import InputError

__all__ = ["load_manifest", "read_csv_lines"]


def load_manifest(path, *, label="label", image_col="image_path", split=None) -> pd.DataFrame:
    """Read a manifest CSV and return a DataFrame whose image paths are absolute.

    Relative paths are taken relative to the manifest's folder. Empty label cells become NaN
    (unlabelled). Columns other than ``label`` and ``image_col`` are kept as features, except the
    bookkeeping columns ``sha256`` and ``split``. With ``split`` (e.g. ``"train"`` or ``"test"``) only
    the rows of that split are returned. ``image_col=None`` reads a table without images (a CSV of
    features and the label).

    Raises
    ------
    InputError
        If the file is missing, is not a readable CSV, or lacks a required column.
    """
    path = Path(path).expanduser()
    header = f"{label},{image_col}" if image_col is not None else f"{label} and the feature columns"
    if not path.is_file():
        raise InputError(f"manifest {str(path)!r} does not exist; pass the path of a CSV with columns {header}")
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig", dtype={image_col: str} if image_col is not None else None,
                            skip_blank_lines=True)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"manifest {str(path)!r} is not a readable UTF-8 CSV ({exc}); save it as UTF-8 CSV") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    for column in (label, image_col):
        if column is not None and column not in frame.columns:
            fix = (" (a table without images: CLI --no-images, Python image_col=None)" if column == image_col else "")
            raise InputError(
                f"manifest {str(path)!r} has no column {column!r} (columns: {list(frame.columns)}); "
                f"the header must include {header}{fix}"
            )
    if split is not None:
        if "split" not in frame.columns:
            raise InputError(f"manifest {str(path)!r} has no split column; pass the whole manifest or add a split column")
        frame = frame[frame["split"].astype(str).str.strip() == split]
        if frame.empty:
            raise InputError(f"manifest {str(path)!r} has no rows with split == {split!r}")
    frame = frame.drop(columns=[c for c in ("sha256", "split") if c in frame.columns])
    if image_col is None:
        return frame
    base = path.resolve().parent
    frame[image_col] = [str(p) if pd.isna(p) else str((base / str(p).strip()).resolve()) for p in frame[image_col]]
    return frame


def read_csv_lines(path, *, what, hint):
    """``(header, [(line_number, cells), ...])`` of a UTF-8 CSV (byte-order mark allowed), blank lines skipped.

    Raises InputError naming ``what`` (e.g. ``"manifest"``) when the file is missing (with ``hint``)
    or is not a readable UTF-8 CSV.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} {str(path)!r} does not exist; {hint}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{what} {str(path)!r} is not a readable UTF-8 CSV ({exc}); save it as UTF-8 CSV") from exc
    return header, rows
