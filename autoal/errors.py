"""Exceptions raised by autoal.

Every error a user can cause is an :class:`InputError` whose message names the problem and the fix.
"""

__all__ = ["AutoalError", "InputError", "AnnotationError", "MissingDependencyError", "PoolExhausted"]


class AutoalError(Exception):
    """Base class of every error autoal raises on purpose."""


class InputError(AutoalError, ValueError):
    """Something the user passed (data, paths, arguments) cannot be used; the message says why and how to fix it."""


class AnnotationError(InputError):
    """An annotator returned an answer autoal cannot store (unknown class, wrong count)."""


class MissingDependencyError(AutoalError, ImportError):
    """An optional heavy dependency is not installed; the message gives the pip command."""


class PoolExhausted(AutoalError):
    """No example is left to ask anyone about, so no round can start.

    Attributes
    ----------
    waiting : int
        Examples still waiting for answers already asked for (they may free nothing new, but the run is not
        over for them).
    relabeling : bool
        Whether examples could have been asked again (several annotators and relabeling on).
    """

    def __init__(self, *, waiting=0, relabeling=False):
        self.waiting, self.relabeling = int(waiting), bool(relabeling)
        if self.waiting:
            message = f"nothing left to pick: the other {self.waiting} examples wait for answers already asked for"
        elif self.relabeling:
            message = "pool exhausted: every example has a label from every annotator who can be asked"
        else:
            message = "pool exhausted: no example left to label"
        super().__init__(message)


def first_few(items, n=5):
    """Format up to ``n`` items of a sequence for an error message, noting how many were left out."""
    items = list(items)
    shown = ", ".join(repr(x) for x in items[:n])
    return shown + (f", ... ({len(items) - n} more)" if len(items) > n else "")
