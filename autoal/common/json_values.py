"""Values as JSON holds them: numpy scalars as the Python numbers they are, anything else JSON cannot write as text."""

from __future__ import annotations

__all__ = ["plain_scalar", "json_default"]


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
