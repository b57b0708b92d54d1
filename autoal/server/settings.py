"""The labelling server's settings, kept in the run store (``server_settings``), and where it was last served.

Settings: whether the model's guess is shown (for new examples, for relabels), when an absent
annotator's examples are handed on, and the address links point at (:func:`links_address`). The
address the server listened on is kept beside them (:func:`save_address`), so that the next
``autoal serve`` of the run listens there again and the links it gave keep working.
"""

from __future__ import annotations

import re

from autoal.common.checks import Interval, Real, check_option
from autoal.errors import InputError
from autoal.store import server_tables

__all__ = [
    "DEFAULT_URL",
    "SETTING_DEFAULTS",
    "get_settings",
    "check_settings",
    "set_settings",
    "links_address",
    "save_address",
    "last_address",
]

DEFAULT_URL = "http://127.0.0.1:8765"

SETTING_DEFAULTS = {
    # The model's guess on the page: shown for new examples, hidden for relabels (a second opinion
    # that has seen the model's guess is not independent, and consensus relies on independence).
    "show_guess_new": False,
    "show_guess_relabel": False,
    # Minutes after which the examples of an annotator who has not been seen are handed to another
    # annotator who has; 0 = never.
    "reassign_after_minutes": 0.0,
    "base_url": DEFAULT_URL,
}


def get_settings(db) -> dict:
    """The server's settings (defaults where not set); InputError naming a stored value that is not valid
    (the store edited by hand)."""
    stored = server_tables.read_settings(db)
    settings = {k: stored.get(k, default) for k, default in SETTING_DEFAULTS.items()}
    try:
        return {**settings, **check_settings(**settings)}
    except InputError as exc:
        raise InputError(f"the labelling server's settings stored in run.sqlite are not valid: {exc}; set it again "
                         "(e.g. `autoal serve RUN_DIR --show-guess none`, or the organiser page)") from None


def check_settings(**changes) -> dict:
    """The settings ``changes`` validated (numbers as floats); InputError naming a bad key or value."""
    out = {}
    for key, value in changes.items():
        if key not in SETTING_DEFAULTS:
            raise InputError(f"unknown setting {key!r}; settings: {', '.join(SETTING_DEFAULTS)}")
        default = SETTING_DEFAULTS[key]
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise InputError(f"setting {key!r} must be true or false, got {value!r}")
        elif isinstance(default, float):
            check_option(f"setting {key!r}", value, Interval(Real, 0, 7 * 24 * 60),
                         hint="a number of minutes, 0 for never, 10080 for a week")
            value = float(value)
        elif not isinstance(value, str) or not re.fullmatch(r"https?://[^\s/?#]+", value):
            raise InputError(f"setting {key!r} must be an address such as http://127.0.0.1:8765, got {value!r}")
        out[key] = value
    return out


def set_settings(db, **changes) -> dict:
    """Validate and store server settings; returns them all. InputError naming a bad key or value."""
    changes = check_settings(**changes)
    server_tables.write_settings(db, changes)
    return get_settings(db)


def links_address(db, own_url=None) -> str:
    """Where links point: the address given for them (``--url``, stored as ``base_url`` when links are issued),
    else the server's own listening address ``own_url``, else :data:`DEFAULT_URL`; never a request's Host."""
    stored = server_tables.read_setting(db, "base_url")
    return (stored or own_url or DEFAULT_URL).rstrip("/")


def save_address(db, host, port, url=None) -> None:
    """Remember where the server listens (``host``, the port it got) and the ``url`` given for links, if any,
    so that the next ``autoal serve`` of the run listens there again and the links keep working."""
    server_tables.write_setting(db, "served_at", {"host": host, "port": int(port), "url": url})


def last_address(db) -> dict | None:
    """``{"host", "port", "url"}`` where the run was last served, or None when it never was.

    Runs served before the address was kept have only the links' address: it is used when it names this
    machine (127.0.0.1, localhost, ::1) with a port.
    """
    served_at = server_tables.read_setting(db, "served_at")
    if served_at is not None:
        return served_at
    base = server_tables.read_setting(db, "base_url")
    found = re.fullmatch(r"http://(127\.0\.0\.1|localhost|\[::1\]):(\d+)/?", base) if base is not None else None
    if found is None:
        return None
    return {"host": found.group(1).strip("[]"), "port": int(found.group(2)), "url": None}
