"""Option checks: the values an option takes (numbers in a range, a few words, None) and one wording for a refusal.

Every check of an option reads ``check_option("batch_size", value, Interval(Integral, 1, None, closed="left"))``
and refuses with "batch_size must be an integer >= 1, got 0", followed by the fix when the option has one
(``hint``). The constraints follow scikit-learn's ``Interval`` and ``StrOptions``; scikit-learn keeps those in a
private module (``sklearn.utils._param_validation``) that may change without notice, raises its own exception
type and words its errors its own way, so autoal keeps this small module of its own.

A number here is never a bool (``True`` is not a batch size) and never NaN or infinite.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from autoal.errors import InputError

__all__ = ["Integral", "Interval", "Real", "StrOptions", "check_option", "refusal", "POSITIVE_INT", "PROBABILITY"]

#: Which ends of an :class:`Interval` belong to it (scikit-learn's words).
CLOSED = ("both", "left", "right", "neither")


@dataclass(frozen=True)
class Interval:
    """Numbers of one kind between two bounds.

    Parameters
    ----------
    kind : numbers.Integral or numbers.Real
        ``Integral``: integers (Python's or numpy's); ``Real``: any finite number. Never a bool.
    low, high : number or None
        The bounds; None for no bound on that side.
    closed : {"both", "left", "right", "neither"}
        Which bounds belong to the interval.
    """

    kind: type
    low: float | None = None
    high: float | None = None
    closed: str = "both"

    def __post_init__(self):
        if self.kind not in (Integral, Real):
            raise TypeError(f"Interval kind must be numbers.Integral or numbers.Real, got {self.kind!r}")
        if self.closed not in CLOSED:
            raise ValueError(f"Interval closed must be one of {', '.join(CLOSED)}, got {self.closed!r}")

    def admits_type(self, value) -> bool:
        """Whether ``value`` is a number of this interval's kind (whatever its size)."""
        return isinstance(value, self.kind) and not isinstance(value, (bool, np.bool_))

    def __contains__(self, value) -> bool:
        if not self.admits_type(value) or not (isinstance(value, Integral) or math.isfinite(value)):
            return False
        if self.low is not None and not (value >= self.low if self.closed in ("both", "left") else value > self.low):
            return False
        return self.high is None or (value <= self.high if self.closed in ("both", "right") else value < self.high)

    def __str__(self) -> str:
        noun = "an integer" if self.kind is Integral else "a number"
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            return f"{noun} in {'[' if left else '('}{self.low}, {self.high}{']' if right else ')'}"
        if self.low is not None:
            return f"{noun} {'>=' if left else '>'} {self.low}"
        if self.high is not None:
            return f"{noun} {'<=' if right else '<'} {self.high}"
        return noun


#: The most common ranges: a count of one or more, and a share or probability.
POSITIVE_INT = Interval(Integral, 1, None, closed="left")
PROBABILITY = Interval(Real, 0, 1, closed="both")


@dataclass(frozen=True, init=False)
class StrOptions:
    """One of a few words, listed in the order given."""

    choices: tuple

    def __init__(self, choices):
        object.__setattr__(self, "choices", tuple(choices))

    def admits_type(self, value) -> bool:
        """Whether ``value`` is a word at all."""
        return isinstance(value, str)

    def __contains__(self, value) -> bool:
        return isinstance(value, str) and value in self.choices

    def __str__(self) -> str:
        words = ", ".join(repr(c) for c in self.choices)
        return words if len(self.choices) == 1 else f"one of {words}"


def _admits(constraint, value) -> bool:
    return value is None if constraint is None else value in constraint


def _admits_type(constraint, value) -> bool:
    return value is None if constraint is None else constraint.admits_type(value)


def _article(name: str) -> str:
    return f"an {name}" if name[:1] in "aeiou" else f"a {name}"


def refusal(value, *allowed, hint: str = "") -> str | None:
    """None when one of ``allowed`` (:class:`Interval`, :class:`StrOptions` or None) admits ``value``; else the
    refusal after the option's name: ``"must be an integer >= 1, got 0"``, then ``"; "`` and ``hint``.

    The value's type follows it when no constraint takes values of that type (``got '3' (a str)``), and
    "(not a finite number)" follows NaN and infinities."""
    if any(_admits(c, value) for c in allowed):
        return None
    text = f"must be {' or '.join('None' if c is None else str(c) for c in allowed)}, got {value!r}"
    if value is not None and not any(_admits_type(c, value) for c in allowed):
        text += f" ({_article(type(value).__name__)})"
    elif isinstance(value, Real) and not isinstance(value, Integral) and not math.isfinite(value):
        text += " (not a finite number)"
    return f"{text}; {hint}" if hint else text


def check_option(name: str, value, *allowed, hint: str = "", error: type = InputError):
    """``value`` when one of ``allowed`` admits it; else ``error`` (InputError unless given) with the message
    ``"NAME must be ALLOWED, got VALUE; HINT"`` (see :func:`refusal`).

    Examples
    --------
    >>> check_option("folds", 5, Interval(Integral, 2, None, closed="left"))
    5
    >>> check_option("C", "auto", Interval(Real, 0, None, closed="neither"), StrOptions(["auto"]))
    'auto'
    """
    reason = refusal(value, *allowed, hint=hint)
    if reason is not None:
        raise error(f"{name} {reason}")
    return value
