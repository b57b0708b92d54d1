"""Values as JSON holds them: numpy scalars as the Python numbers they are, anything else JSON cannot write as text."""

from __future__ import annotations

import numpy as np

__all__ = ["plain_scalar", "json_value", "json_default", "finite_or_none"]


def plain_scalar(value):
    """A numpy scalar as the Python one (``np.int64(3)`` -> ``3``); any other value as it is."""
    return value.item() if hasattr(value, "item") else value


def json_default(value):
    """``json.dumps(..., default=json_default)``: what JSON cannot write otherwise: a numpy scalar as the Python
    one, a set or tuple as a list, anything else (a path, a date) as its text."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def json_value(value):
    """``value`` with numpy scalars and arrays turned into plain Python, through lists, tuples and dicts (dict keys as
    text): for a saved model's ``model.json``."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return value


def finite_or_none(value):
    """A float for JSON, None for NaN or a missing value."""
    return None if value is None or value != value else float(value)

