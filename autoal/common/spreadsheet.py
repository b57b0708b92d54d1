"""CSV cells that a spreadsheet shows as text: no formula runs when someone opens an export.

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by Excel,
LibreOffice and Google Sheets as a formula (CSV or formula injection), and a class name, an annotator
name or an example id can be any text. Following OWASP's advice, such a cell is written with a leading
single quote, which spreadsheets take as "this is text" and do not show; plain numbers (``-3``,
``+1.5``) are left alone, since a spreadsheet reads them as the numbers they are. A cell that already
begins with a quote gets one more, so that :func:`from_cell` gives back exactly what was written
(``autoal import-labels`` reads the batch files ``export-batch`` wrote this way).
"""

from __future__ import annotations

import re

import pandas as pd

__all__ = ["to_cell", "from_cell", "spreadsheet_safe", "FORMULA_STARTS"]

#: What a spreadsheet takes as the start of a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _needs_quote(text: str) -> bool:
    return (text.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(text)) or text.startswith("'")


def to_cell(value):
    """``value`` as a cell a spreadsheet shows as text: text that would start a formula (or starts with a quote)
    gets a leading ``'``; anything else is returned unchanged."""
    if isinstance(value, str) and _needs_quote(value):
        return "'" + value
    return value


def from_cell(text: str) -> str:
    """The value :func:`to_cell` wrote as ``text`` (the leading quote it added taken off)."""
    if text.startswith("'") and _needs_quote(text[1:]):
        return text[1:]
    return text


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with :func:`to_cell` applied to its text cells, its index and its column names."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column].dtype):
            out[column] = out[column].map(to_cell)
    out.index = out.index.map(to_cell) if out.index.dtype == object else out.index
    out.columns = [to_cell(c) for c in out.columns]
    return out
