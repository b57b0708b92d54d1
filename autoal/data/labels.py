"""Labels and answers as classes: the user's labels made plain Python ints or strings (:func:`normalize_labels`),
and the class an annotator's answer means (:func:`match_class`).
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from autoal.errors import InputError

__all__ = ["normalize_labels", "match_class", "UNKNOWN"]

UNKNOWN = object()  # match_class's answer for a label that is not a class


def normalize_labels(values: pd.Series, what="df") -> pd.Series:
    """Return the labels as plain Python ints or strings (NaN kept), rejecting mixed or fractional types.

    Integral floats (what pandas makes of integer labels next to NaN) become ints.
    """
    fast = _normalize_common_labels(values)
    if fast is not None:
        return fast
    present = values.dropna()
    kinds = {}
    for idx, value in present.items():
        if isinstance(value, (bool, np.bool_)):
            kind = "bool"
        elif isinstance(value, numbers.Integral):
            kind = "int"
        elif isinstance(value, numbers.Real):
            if not float(value).is_integer():
                raise InputError(
                    f"{what} label {value!r} (id {idx!r}) is not a class: labels must be class names or integer class ids"
                )
            kind = "int"
        elif isinstance(value, str):
            kind = "str"
        else:
            kind = type(value).__name__
        kinds.setdefault(kind, idx)
    if len(kinds) > 1:
        examples = ", ".join(f"{kind} (e.g. id {idx!r}: {present[idx]!r})" for kind, idx in kinds.items())
        raise InputError(
            f"{what} mixes label types: {examples}; make every label the same type, e.g. "
            f"df[{values.name!r}] = df[{values.name!r}].astype(str)"
        )
    convert = {"int": int, "str": str.strip}.get(next(iter(kinds), None), lambda v: v)
    return pd.Series(
        [np.nan if pd.isna(v) else convert(v) for v in values], index=values.index, dtype=object, name=values.name
    )


def _normalize_common_labels(values: pd.Series):
    """:func:`normalize_labels` for all-text or all-integral labels, vectorised; None for anything else."""
    present = values.dropna()
    kind = pd.api.types.infer_dtype(present, skipna=True) if len(present) else "empty"
    out = pd.Series(np.nan, index=values.index, dtype=object, name=values.name)
    if kind == "string":
        out[present.index] = present.str.strip()
        return out
    if kind == "integer" or (kind in ("floating", "mixed-integer-float")
                             and np.all(np.mod(present.to_numpy(dtype=float), 1) == 0)):
        out[present.index] = present.to_numpy(dtype=np.int64).astype(object)
        return out
    return None


def match_class(answer, classes):
    """The class an annotator's answer means: the class itself, or its text (``" 3 "`` for class 3).

    Returns None for no answer (None, NaN or blank text) and :data:`UNKNOWN` for anything else.
    """
    if answer is None or (isinstance(answer, float) and np.isnan(answer)):
        return None
    if isinstance(answer, str) and not answer.strip():
        return None
    if answer in classes:
        return answer
    matches = [c for c in classes if str(c) == str(answer).strip()]
    return matches[0] if len(matches) == 1 else UNKNOWN
