"""Exceptions raised by autoal.

Every error a user can cause is an :class:`InputError` whose message names the problem and the fix.
"""

__all__ = ["AutoalError", "InputError", "AnnotationError", "MissingDependencyError"]


class AutoalError(Exception):
    """Base class of every error autoal raises on purpose."""


class InputError(AutoalError, ValueError):
    """Something the user passed (data, paths, arguments) cannot be used; the message says why and how to fix it."""


class AnnotationError(InputError):
    """An annotator returned an answer autoal cannot store (unknown class, wrong count)."""


class MissingDependencyError(AutoalError, ImportError):
    """An optional heavy dependency is not installed; the message gives the pip command."""


def first_few(items, n=5):
    """Format up to ``n`` items of a sequence for an error message, noting how many were left out."""
    items = list(items)
    shown = ", ".join(repr(x) for x in items[:n])
    return shown + (f", ... ({len(items) - n} more)" if len(items) > n else "")
