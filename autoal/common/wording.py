"""Wording shared by the messages autoal prints."""

from __future__ import annotations

__all__ = ["plural"]


def plural(n, word) -> str:
    """``n`` and ``word``, plural unless ``n`` is 1: ``1 row``, ``2 rows``, ``0 rows``."""
    return f"{n} {word}{'' if n == 1 else 's'}"
