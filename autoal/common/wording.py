"""Wording shared by the messages autoal prints."""

from __future__ import annotations

__all__ = ["plural", "accuracy_text"]


def plural(n, word) -> str:
    """``n`` and ``word``, plural unless ``n`` is 1: ``1 row``, ``2 rows``, ``0 rows``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def accuracy_text(value) -> str:
    """An accuracy as printed: three decimals, ``n/a`` when it was not measured (None or NaN)."""
    return "n/a" if value is None or value != value else f"{value:.3f}"

