"""Manifests: CSV files with ``label,image_path`` columns, paths relative to the CSV's folder."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd

from autoal.errors import InputError

__all__ = ["load_manifest", "read_csv_lines", "refuse_cells_over_lines", "labels_as_written", "one_label_kind"]

#: An integer written the one way Python writes it (``7``, ``-2``; not ``07``, ``+7``, ``-0`` or ``7.0``).
_PLAIN_INTEGER = re.compile(r"0|-?[1-9][0-9]*")
#: Integer class ids are stored as int64: a longer integer stays text.
_INT64 = range(-2**63, 2**63)


def _plain_integer(text: str) -> bool:
    """Whether ``text`` is an integer written exactly as ``str(int(text))`` writes it, within int64."""
    return len(text) <= 20 and _PLAIN_INTEGER.fullmatch(text) is not None and int(text) in _INT64


def load_manifest(path, *, label="label", image_col="image_path", split=None) -> pd.DataFrame:
    """Read a manifest CSV and return a DataFrame whose image paths are absolute.

    Relative paths are taken relative to the manifest's folder. Labels are read as written
    (:func:`labels_as_written`): only an empty label cell is "no label" (NaN); ``NA``, ``None``,
    ``null``, ``01`` or ``1.0`` are class names like any other. Columns other than ``label`` and
    ``image_col`` are kept as features (parsed by pandas: numbers, missing values), except the
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
        # The label and image cells as the raw text: a converter bypasses pandas' number parsing and its
        # missing-value strings ("NA", "None", "null", "NaN", ...), which would merge or drop classes.
        text = {column: str for column in (label, image_col) if column is not None}
        frame = pd.read_csv(path, encoding="utf-8-sig", converters=text, skip_blank_lines=True)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        if isinstance(exc, pd.errors.ParserError):  # a stray quote or an extra cell: the csv module names its line
            read_csv_lines(path, what="manifest", hint="")
        raise InputError(f"manifest {str(path)!r} is not a readable UTF-8 CSV ({exc}); save it as UTF-8 CSV") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    for column in (label, image_col):
        if column is not None and column not in frame.columns:
            fix = (" (a table without images: CLI --no-images, Python image_col=None)" if column == image_col else "")
            raise InputError(
                f"manifest {str(path)!r} has no column {column!r} (columns: {list(frame.columns)}); "
                f"the header must include {header}{fix}"
            )
    _refuse_swallowed_rows(path, frame, [c for c in (label, image_col) if c is not None])
    if split is not None:
        if "split" not in frame.columns:
            raise InputError(f"manifest {str(path)!r} has no split column; pass the whole manifest or add a split column")
        frame = frame[frame["split"].astype(str).str.strip() == split]
        if frame.empty:
            raise InputError(f"manifest {str(path)!r} has no rows with split == {split!r}")
    frame = frame.drop(columns=[c for c in ("sha256", "split") if c in frame.columns])
    frame[label] = labels_as_written(frame[label])
    if image_col is None:
        return frame
    base = path.resolve().parent
    frame[image_col] = [np.nan if not str(p).strip() else str((base / str(p).strip()).resolve()) for p in frame[image_col]]
    return frame


def _refuse_swallowed_rows(path, frame, columns) -> None:
    """InputError naming the line of a label or image cell that pandas read over several lines: a stray quote
    there swallowed the rows below it into one cell (pandas says nothing), which would merge or drop them."""
    if not any(frame[c].str.contains("[\r\n]", regex=True).any() for c in columns):
        return
    header, rows = read_csv_lines(path, what="manifest", hint="")  # strict: may name the stray quote itself
    refuse_cells_over_lines(path, "manifest", header, rows, columns)


def refuse_cells_over_lines(path, what, header, rows, columns) -> None:
    """InputError naming the first line (of ``rows`` from :func:`read_csv_lines`) where a cell of ``columns`` runs
    on over several lines: an id, a label or an image path never does, so a quote opened there closed far below."""
    positions = [(name, header.index(name)) for name in columns]
    for line, row in rows:
        for name, k in positions:
            if k < len(row) and ("\n" in row[k] or "\r" in row[k]):
                raise InputError(f"{what} {str(path)!r} line {line}: its {name} cell runs on over several lines "
                                 "(a stray quote?); fix the quotes on that line")


def labels_as_written(cells: pd.Series) -> pd.Series:
    """Label cells (text) as labels: an empty cell is NaN (no label), every other cell its text, stripped.

    When every label is an integer written plainly (``0``, ``7``, ``-2``; within int64), they become ints, so
    that integer class ids stay integers; each still reads back exactly as written (``str(7) == "7"``). Any
    other text keeps every label text, so ``01`` and ``1``, ``-0`` and ``0``, or ``1.0`` and ``1``, stay two
    classes.
    """
    text = cells.astype(str).str.strip()
    present = text != ""
    out = pd.Series(np.nan, index=cells.index, dtype=object, name=cells.name)
    values = text[present]
    if len(values) and all(map(_plain_integer, values)):  # stops at the first text label
        if present.all():  # every row labelled: an integer column, as pandas reads one (scikit-learn needs it)
            return pd.Series([int(v) for v in values], index=cells.index, dtype=np.int64, name=cells.name)
        out[present] = [int(v) for v in values]
    else:
        out[present] = values.tolist()
    return out


def one_label_kind(frames, label, classes=None) -> tuple:
    """``(frames, classes)`` with one kind of label across several manifests (and ``--classes``): when any of
    them holds a label that is not a plain integer, every integer label and class becomes its text again
    (exactly as written, see :func:`labels_as_written`), so that ``2`` in one file is ``2`` in the other.

    ``frames`` may hold None (a manifest not given); ``classes`` is a list of names as text, or None.
    """
    given = [f for f in frames if f is not None]
    texts = [v for f in given for v in f[label].dropna()] + list(classes or [])
    if all(isinstance(v, int) or _plain_integer(str(v)) for v in texts):
        return frames, None if classes is None else [int(c) for c in classes]
    out = []
    for frame in frames:
        if frame is not None:
            frame = frame.assign(**{label: [v if not isinstance(v, int) else str(v) for v in frame[label]]})
            frame[label] = frame[label].astype(object)
        out.append(frame)
    return out, None if classes is None else [str(c) for c in classes]


def read_csv_lines(path, *, what, hint):
    """``(header, [(line_number, cells), ...])`` of a UTF-8 CSV (byte-order mark allowed), blank lines skipped.

    ``line_number`` is the line each row starts on (a quoted cell may hold line breaks). The file is
    parsed whole before anything is returned, strictly: a stray quote (a quoted cell that never
    closes, or text after a closing quote) or a row with more cells than the header is an InputError
    naming its line, never a silently swallowed or dropped tail.

    Raises InputError naming ``what`` (e.g. ``"manifest"``) when the file is missing (with ``hint``)
    or is not a readable UTF-8 CSV.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} {str(path)!r} does not exist; {hint}")
    start = 1
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, strict=True)
            header = [h.strip() for h in next(reader, [])]
            rows = []
            start = reader.line_num + 1
            for row in reader:
                if any(cell.strip() for cell in row):
                    _check_row(path, what, header, start, row)
                    rows.append((start, row))
                start = reader.line_num + 1
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {str(path)!r} is not a readable UTF-8 CSV ({exc}); save it as UTF-8 CSV") from exc
    except csv.Error as exc:
        raise InputError(f"{what} {str(path)!r} line {start} is not valid CSV ({exc}): a stray quote? A cell that "
                         'starts with " must end with " (write "" for a quote inside it); fix that line') from exc
    return header, rows


def _check_row(path, what, header, start, row) -> None:
    """InputError for a row with more cells than the header (an unquoted comma inside a cell)."""
    extra = [cell for cell in row[len(header):] if cell.strip()]
    if extra:
        raise InputError(f"{what} {str(path)!r} line {start} has {len(row)} cells but the header has {len(header)} "
                         f"(a comma inside a cell?); quote that cell (\"big, dog\") or remove the extra cells")
