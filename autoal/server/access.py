"""Who may use the labelling server: annotators and the organiser, each with a personal link.

A link carries a random token (``secrets.token_urlsafe``, 256 bits). The run store keeps only its
SHA-256 hash (a fast hash is enough for a random 256-bit secret: there is nothing to guess), in the
table ``server_tokens`` that the server adds to ``run.sqlite``; a presented token is hashed and
compared with every stored hash in constant time (:func:`hmac.compare_digest`, no early exit). The
token itself is shown once, when the link is made, and never written anywhere.

The same module keeps the server's own settings (``server_settings``: whether the model's guess is
shown, when an absent annotator's examples are handed on, the address links point at) and adds
annotators to a run (:func:`add_annotator`), so that ``autoal annotators add`` works whether or not
a server is running. The tables, their SQL and the connection set-up are the store's
(:mod:`autoal.store.server_tables`); this module decides what they hold.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from pathlib import Path

from autoal.common.checks import Interval, Real, check_option
from autoal.errors import InputError
from autoal.store import labelling_queries, server_tables
from autoal.store.run_store import STORE_FILE

__all__ = [
    "ANNOTATOR",
    "ORGANISER",
    "SETTING_DEFAULTS",
    "connect",
    "ensure_tables",
    "issue_token",
    "identify",
    "has_token",
    "link",
    "check_name",
    "add_annotator",
    "get_settings",
    "set_settings",
    "check_settings",
    "DEFAULT_URL",
    "save_address",
    "last_address",
    "links_address",
]

ANNOTATOR, ORGANISER = "annotator", "organiser"
DEFAULT_URL = "http://127.0.0.1:8765"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
#: Names that would be confused with autoal's own roles or pseudo-annotators.
RESERVED = ("given", ORGANISER, "oracle")

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

def connect(run_dir):
    """A connection to ``RUN_DIR/run.sqlite`` set up as the run store's own (WAL, busy timeout, autocommit),
    with the server's tables created if missing (:func:`autoal.store.server_tables.connect`)."""
    path = Path(run_dir) / STORE_FILE
    if not path.is_file():
        raise InputError(f"{str(run_dir)!r} is not an autoal run folder (no run.sqlite); pass the folder a run wrote, "
                         "or start a new run with `autoal serve RUN_DIR --manifest M.csv --annotators alice,bob`")
    return server_tables.connect(path)


def ensure_tables(db) -> None:
    """Create the server's tables in a run store (no-op when they exist)."""
    server_tables.ensure_tables(db)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(db, role, name) -> str:
    """Make a new token for ``(role, name)``, store its hash (replacing an earlier one) and return it.

    The returned token is the only copy: print it in a link and forget it.
    """
    token = secrets.token_urlsafe(32)
    server_tables.save_token_hash(db, role, name, _hash(token), time.time())
    return token


def has_token(db, role, name) -> bool:
    """Whether ``(role, name)`` was given a link already."""
    return server_tables.has_token(db, role, name)


def identify(db, token) -> tuple | None:
    """``(role, name)`` of the holder of ``token``, or None when it is not a valid token.

    Every stored hash is compared, in constant time, whatever matched earlier.
    """
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    presented = _hash(token)
    found = None
    for role, name, stored in server_tables.token_hashes(db):
        if hmac.compare_digest(presented, stored):
            found = (role, name)
    return found


def link(base_url, role, token) -> str:
    """The personal link of a token: ``BASE/label?token=...`` or ``BASE/organiser?token=...``."""
    page = "organiser" if role == ORGANISER else "label"
    return f"{base_url.rstrip('/')}/{page}?token={token}"


def check_name(name) -> str:
    """``name`` if it can be an annotator's name, else InputError saying what is allowed."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InputError(f"annotator name {name!r} is not allowed: use 1-40 letters, digits, '_', '.' or '-', "
                         "starting with a letter or digit (e.g. alice, ann.b, team-2)")
    if name.lower() in RESERVED:
        raise InputError(f"annotator name {name!r} is reserved by autoal ({', '.join(RESERVED)}); choose another")
    return name


def add_annotator(run_dir, name) -> None:
    """Add a page annotator ``name`` to the run in ``run_dir`` (its settings, so that the next batch
    counts them, and the server picks them up within seconds).

    Raises
    ------
    InputError
        For a name that is not allowed or is already an annotator of the run.
    """
    from autoal.annotation.annotators import PageAnnotator
    from autoal.store.run_state import open_run

    check_name(name)
    state = open_run(run_dir)
    try:
        names = list(state.settings.get("annotator_names", []))
        if name in names:
            raise InputError(f"{name!r} is already an annotator of this run; `autoal annotators link {run_dir} {name}` "
                             "gives them a new link (the old one stops working)")
        specs = list(state.settings.get("annotators", []))
        state.update_settings(annotators=specs + [PageAnnotator(name).spec()], annotator_names=names + [name])
    finally:
        state.close()


def annotator_names(db) -> list:
    """The run's annotator names as its settings list them now (read afresh from the store)."""
    return list(labelling_queries.run_settings(db).get("annotator_names", []))


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


def touch(db, name, now=None) -> None:
    """Record that ``name`` was seen now (for handing on the examples of annotators who stay away)."""
    server_tables.mark_seen(db, name, now if now is not None else time.time())


def last_seen(db) -> dict:
    """``{name: time last seen}``."""
    return server_tables.last_seen(db)
