"""A run's examples as a plain SQLite table with explicit column types: stored without pickle, read back exactly.

The table ``examples`` holds one row per example: ``pos`` (its position, the key every other table
uses), ``split`` (``"pool"`` or ``"test"``), ``example_id`` (the user's id as JSON text, so ints stay
ints), ``label`` (JSON text or NULL), ``initial`` (1 when labelled before round 1) and one column per
feature column of the user's DataFrame, named ``c0, c1, ...`` (the user's names may be anything, so
they never appear in SQL). :func:`column_specs` records each column's name and dtype; reading
restores the same dtypes. Supported: integers, floats, booleans (also pandas' nullable ones), text,
categoricals and datetimes; anything else is refused with a message naming the column.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd

from autoal.common.json_values import plain_scalar
from autoal.errors import InputError

__all__ = ["column_specs", "create_table_sql", "insert_frame", "read_frame", "encode_value", "decode_value"]

_CHUNK = 50_000


def encode_value(value) -> str:
    """JSON text of an id or label (numpy scalars as Python ones)."""
    return json.dumps(plain_scalar(value))


def encode_values(values) -> list:
    """:func:`encode_value` of each of ``values`` (integers and repeated values encoded once each)."""
    values = pd.Index(values) if not isinstance(values, pd.Index) else values
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype(str).tolist()  # an integer's JSON is its decimal text
    cache = {}
    return [cache[v] if v in cache else cache.setdefault(v, encode_value(v)) for v in values]


def decode_value(text):
    """The id or label that :func:`encode_value` wrote."""
    return json.loads(text)


def _kind(series: pd.Series) -> dict:
    """How one column is stored: ``{"kind": ..., "dtype": ...}`` plus what restoring it needs."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        categories = [plain_scalar(c) for c in dtype.categories]
        if not all(isinstance(c, (str, int, float)) for c in categories):
            raise InputError(f"column {series.name!r} is categorical with categories autoal cannot store "
                             f"({type(categories[0]).__name__}); convert them to text: df[{series.name!r}].astype(str)")
        return {"kind": "category", "categories": categories, "ordered": bool(dtype.ordered)}
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return {"kind": "datetime", "tz": str(dtype.tz) if getattr(dtype, "tz", None) else None}
    if pd.api.types.is_bool_dtype(dtype):
        return {"kind": "bool", "dtype": str(dtype)}
    if pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_float_dtype(dtype):
        return {"kind": "number", "dtype": str(dtype)}
    if pd.api.types.is_string_dtype(dtype) or dtype == object:
        plain_text = pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty")
        bad = None if plain_text else next((v for v in series if not (isinstance(v, (str, os.PathLike)) or _missing(v))), None)
        if bad is not None:
            raise InputError(f"column {series.name!r} holds {type(bad).__name__} values such as {bad!r}; autoal stores "
                             f"feature columns as text, numbers, booleans, categories or dates: convert it "
                             f"(e.g. df[{series.name!r}] = df[{series.name!r}].astype(str)) or drop it")
        return {"kind": "text", "dtype": "object" if dtype == object else str(dtype)}
    raise InputError(f"column {series.name!r} has dtype {dtype}, which autoal cannot store; convert it to text, "
                     "numbers, booleans, a category or a date, or drop it")


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or value is pd.NaT


def column_specs(frame: pd.DataFrame, *, skip=()) -> list:
    """One spec per column of ``frame`` except ``skip``: ``{"name", "sql", "kind", ...}``.

    Raises
    ------
    InputError
        For a column whose values autoal cannot store (e.g. lists or arbitrary objects).
    """
    specs = []
    for column in frame.columns:
        if column in skip:
            continue
        spec = _kind(frame[column])
        spec.update(name=column if isinstance(column, (str, int)) else str(column), sql=f"c{len(specs)}")
        specs.append(spec)
    return specs


def create_table_sql(specs) -> str:
    """The ``CREATE TABLE examples`` statement for ``specs``."""
    features = "".join(f", {s['sql']}" for s in specs)
    return (
        "CREATE TABLE examples (pos INTEGER PRIMARY KEY, split TEXT NOT NULL CHECK (split IN ('pool', 'test')), "
        f"example_id TEXT NOT NULL, label TEXT, initial INTEGER NOT NULL DEFAULT 0{features}, "
        "UNIQUE (split, example_id))"
    )


def _to_sql(series: pd.Series, spec) -> list:
    kind = spec["kind"]
    if kind == "category":
        return [None if c < 0 else int(c) for c in series.cat.codes]
    if kind == "datetime":
        values = series.dt.tz_convert("UTC") if spec["tz"] else series
        return [None if pd.isna(v) else int(v.value) for v in values]
    if kind == "bool":
        return [None if _missing(v) else int(bool(v)) for v in series]
    if kind == "number":
        return series.astype(object).where(series.notna(), None).tolist()
    if pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
        return series.astype(object).where(series.notna(), None).tolist()
    return [None if _missing(v) else os.fspath(v) if isinstance(v, os.PathLike) else v for v in series]


def insert_frame(db, frame: pd.DataFrame, specs, *, split, start, label, initial_ids=()) -> int:
    """Insert ``frame``'s rows as positions ``start, start+1, ...``; returns the next free position.

    ``label`` names the label column (stored as JSON text, NULL where missing); ``initial_ids`` are
    the ids labelled before round 1.
    """
    ids = encode_values(frame.index)
    present = frame[label].notna().to_numpy()
    labels = np.full(len(frame), None, dtype=object)
    labels[present] = encode_values(frame[label][present]) if present.any() else []
    labels = labels.tolist()
    flags = frame.index.isin(list(initial_ids)).astype(int).tolist()
    columns = [_to_sql(frame[s["name"]], s) for s in specs]
    placeholders = ", ".join("?" * (5 + len(specs)))
    sql = f"INSERT INTO examples (pos, split, example_id, label, initial{''.join(', ' + s['sql'] for s in specs)}) " \
          f"VALUES ({placeholders})"
    n = len(frame)
    for lo in range(0, n, _CHUNK):
        hi = min(n, lo + _CHUNK)
        rows = zip(range(start + lo, start + hi), [split] * (hi - lo), ids[lo:hi], labels[lo:hi], flags[lo:hi],
                   *(c[lo:hi] for c in columns))
        db.executemany(sql, rows)
    return start + n


def _from_sql(values: list, spec) -> pd.Series:
    kind = spec["kind"]
    if kind == "category":
        codes = np.array([-1 if v is None else v for v in values], dtype=np.int64)
        return pd.Series(pd.Categorical.from_codes(codes, categories=spec["categories"], ordered=spec["ordered"]))
    if kind == "datetime":
        stamps = pd.to_datetime(pd.Series([pd.NA if v is None else v for v in values], dtype="Int64"), unit="ns")
        return stamps.dt.tz_localize("UTC").dt.tz_convert(spec["tz"]) if spec["tz"] else stamps
    if kind in ("bool", "number"):
        dtype = spec["dtype"]
        if any(v is None for v in values) and dtype in ("bool", "int8", "int16", "int32", "int64", "uint8",
                                                         "uint16", "uint32", "uint64"):
            raise InputError(f"the run's stored column {spec['name']!r} ({dtype}) has missing values; the run folder "
                             "was edited or damaged: restore it from a copy or start a new run")
        if dtype.startswith("float"):
            return pd.Series([np.nan if v is None else v for v in values], dtype=dtype)
        return pd.Series(pd.array([pd.NA if v is None else v for v in values], dtype=dtype))
    series = pd.Series(values, dtype=object)
    return series.astype(spec["dtype"]) if spec["dtype"] != "object" else series.where(series.notna(), np.nan)


def read_frame(db, specs, *, split, label) -> tuple:
    """``(frame, initial_ids)`` of one split, in position order, with the stored dtypes restored."""
    rows = db.execute(
        f"SELECT example_id, label, initial{''.join(', ' + s['sql'] for s in specs)} FROM examples "
        "WHERE split = ? ORDER BY pos", (split,)).fetchall()
    columns = list(zip(*rows)) if rows else [[] for _ in range(3 + len(specs))]
    index = pd.Index([decode_value(t) for t in columns[0]], dtype=object if not rows else None)
    data = {label: pd.Series([np.nan if t is None else decode_value(t) for t in columns[1]], index=index, dtype=object)}
    for spec, values in zip(specs, columns[3:]):
        data[spec["name"]] = _from_sql(list(values), spec).set_axis(index)
    initial = [i for i, flag in zip(index, columns[2]) if flag]
    return pd.DataFrame(data, index=index), initial
