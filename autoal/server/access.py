"""Who may use the labelling server: annotators and the organiser, each with a personal link.

A link carries a random token (``secrets.token_urlsafe``, 256 bits). The run store keeps only its
SHA-256 hash (a fast hash is enough for a random 256-bit secret: there is nothing to guess), in the
table ``server_tokens`` that the server adds to ``run.sqlite``; a presented token is hashed and
compared with every stored hash in constant time (:func:`hmac.compare_digest`, no early exit). The
token itself is shown once, when the link is made, and never written anywhere.

The same module adds annotators to a run (:func:`add_annotator`), so that ``autoal annotators add``
works whether or not a server is running, and notes when each was last seen. The server's settings
are :mod:`autoal.server.settings`. The tables, their SQL and the connection set-up are the store's
(:mod:`autoal.store.server_tables`); this module decides what they hold.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from pathlib import Path

from autoal.errors import InputError
from autoal.store import labelling_queries, server_tables
from autoal.store.run_store import STORE_FILE

__all__ = [
    "ANNOTATOR",
    "ORGANISER",
    "connect",
    "ensure_tables",
    "issue_token",
    "identify",
    "has_token",
    "link",
    "check_name",
    "add_annotator",
    "annotator_names",
    "touch",
    "last_seen",
]

ANNOTATOR, ORGANISER = "annotator", "organiser"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
#: Names that would be confused with autoal's own roles or pseudo-annotators.
RESERVED = ("given", ORGANISER, "oracle")


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


def touch(db, name, now=None) -> None:
    """Record that ``name`` was seen now (for handing on the examples of annotators who stay away)."""
    server_tables.mark_seen(db, name, now if now is not None else time.time())


def last_seen(db) -> dict:
    """``{name: time last seen}``."""
    return server_tables.last_seen(db)
