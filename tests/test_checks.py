"""Option checks (autoal.common.checks): numbers in a range, a few words or None, refused in one wording."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from autoal.common.checks import (
    POSITIVE_INT,
    PROBABILITY,
    Integral,
    Interval,
    Real,
    StrOptions,
    check_option,
    refusal,
)
from autoal.errors import InputError


@pytest.mark.parametrize("value", [True, False, np.True_, np.False_])
@pytest.mark.parametrize("interval", [POSITIVE_INT, PROBABILITY, Interval(Integral), Interval(Real)])
def test_a_bool_is_never_a_number(value, interval):
    assert value not in interval
    with pytest.raises(InputError, match=rf"got {value!r} \(a bool\)$"):
        check_option("n", value, interval)


@pytest.mark.parametrize("value", [1, 7, np.int64(3), np.uint8(200), 10**400])
def test_integers_of_any_kind_and_size(value):
    assert value in POSITIVE_INT
    assert value in Interval(Real, 1, None, closed="left")
    assert check_option("n", value, POSITIVE_INT) is value


@pytest.mark.parametrize("value", [2.0, 2.5, np.float32(2), "2", None, [2]])
def test_an_integer_is_not_a_float_text_or_list(value):
    assert value not in POSITIVE_INT


@pytest.mark.parametrize("value", [0.5, np.float32(0.5), np.float64(0.5), Fraction(1, 2), 0, 1])
def test_numbers_of_any_kind(value):
    assert value in PROBABILITY


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.nan, np.float32("inf")])
def test_nan_and_infinities_are_refused_even_without_a_bound(value):
    for interval in (Interval(Real), Interval(Real, 0, None, closed="neither"), Interval(Real, None, 0)):
        assert value not in interval
    with pytest.raises(InputError, match=r"poll must be a number > 0, got .* \(not a finite number\)$"):
        check_option("poll", value, Interval(Real, 0, None, closed="neither"))


@pytest.mark.parametrize("closed, low_in, high_in, text", [
    ("both", True, True, "a number in [0, 1]"),
    ("left", True, False, "a number in [0, 1)"),
    ("right", False, True, "a number in (0, 1]"),
    ("neither", False, False, "a number in (0, 1)"),
])
def test_closed_says_which_bounds_belong(closed, low_in, high_in, text):
    interval = Interval(Real, 0, 1, closed=closed)
    assert (0 in interval, 1 in interval, 0.5 in interval) == (low_in, high_in, True)
    assert (-0.001 in interval, 1.001 in interval) == (False, False)
    assert str(interval) == text


@pytest.mark.parametrize("interval, text", [
    (Interval(Integral, 1, None, closed="left"), "an integer >= 1"),
    (Interval(Integral, 1, None, closed="neither"), "an integer > 1"),
    (Interval(Real, None, 5, closed="both"), "a number <= 5"),
    (Interval(Real, None, 5, closed="left"), "a number < 5"),
    (Interval(Integral, 0, 65535), "an integer in [0, 65535]"),
    (Interval(Real), "a number"),
])
def test_one_sided_and_unbounded_intervals(interval, text):
    assert str(interval) == text


def test_one_sided_bounds_follow_closed():
    assert 1 in Interval(Integral, 1, None, closed="left") and 1 not in Interval(Integral, 1, None, closed="right")
    assert 5 in Interval(Real, None, 5, closed="right") and 5 not in Interval(Real, None, 5, closed="left")


def test_a_bad_interval_is_a_programming_error():
    with pytest.raises(TypeError, match="numbers.Integral or numbers.Real"):
        Interval(int, 0, 1)
    with pytest.raises(ValueError, match="closed must be one of both, left, right, neither, got 'open'"):
        Interval(Real, 0, 1, closed="open")


def test_str_options_name_the_choices_in_order():
    options = StrOptions(["auto", "exact", "approximate"])
    assert "exact" in options and "annoy" not in options and None not in options and 1 not in options
    with pytest.raises(InputError) as caught:
        check_option("graph_search", "annoy", options)
    assert str(caught.value) == "graph_search must be one of 'auto', 'exact', 'approximate', got 'annoy'"
    assert str(StrOptions(["auto"])) == "'auto'"


def test_str_options_take_any_iterable_of_words():
    assert "b" in StrOptions({"a": 1, "b": 2}) and "c" in StrOptions(("a", "c"))


def test_one_wording_joins_the_alternatives_and_names_a_wrong_type():
    allowed = (POSITIVE_INT, StrOptions(["auto"]))
    assert refusal(0, *allowed) == "must be an integer >= 1 or 'auto', got 0"
    assert refusal("many", *allowed) == "must be an integer >= 1 or 'auto', got 'many'"
    assert refusal(2.5, *allowed) == "must be an integer >= 1 or 'auto', got 2.5 (a float)"
    assert refusal("0", POSITIVE_INT) == "must be an integer >= 1, got '0' (a str)"
    assert refusal([1], POSITIVE_INT, None) == "must be an integer >= 1 or None, got [1] (a list)"
    assert refusal(None, POSITIVE_INT) == "must be an integer >= 1, got None"


def test_none_is_allowed_only_when_named():
    assert check_option("max_labels", None, POSITIVE_INT, None) is None
    assert refusal(None, POSITIVE_INT, None) is None
    with pytest.raises(InputError, match="max_labels must be an integer >= 1, got None$"):
        check_option("max_labels", None, POSITIVE_INT)


def test_the_hint_follows_the_refusal():
    with pytest.raises(InputError) as caught:
        check_option("holdout_fraction", 1, Interval(Real, 0, 1, closed="left"), hint="0 keeps no holdout")
    assert str(caught.value) == "holdout_fraction must be a number in [0, 1), got 1; 0 keeps no holdout"
    assert check_option("holdout_fraction", 0, Interval(Real, 0, 1, closed="left"), hint="unused") == 0


def test_the_exception_type_is_the_callers():
    with pytest.raises(ValueError) as caught:
        check_option("dim", 0, POSITIVE_INT, error=ValueError)
    assert type(caught.value) is ValueError and str(caught.value) == "dim must be an integer >= 1, got 0"
