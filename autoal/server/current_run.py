"""The run the labelling app serves, as its routes see it: the run's facts, this thread's desk, the round driver.

:func:`attach` keeps them in the app (``app.extensions["autoal"]``) when it is made; a route asks for them
while it answers a request.
"""

from __future__ import annotations

import time

from flask import current_app

from autoal.server import access
from autoal.server.labelling import Desk, Desks, RunFacts

__all__ = ["attach", "facts", "desk", "driver", "notify", "note_seen", "progress_text"]

TOUCH_EVERY = 20.0  # seconds between writes of an annotator's "last seen" (answers update it too)


def attach(app, run_facts: RunFacts, round_driver=None) -> None:
    """Keep the run (``run_facts``, a :class:`~autoal.server.labelling.Desks` over it) and its round driver in
    ``app`` for its routes."""
    app.extensions["autoal"] = {"facts": run_facts, "desks": Desks(run_facts), "driver": round_driver, "seen": {}}


def _run() -> dict:
    return current_app.extensions["autoal"]


def facts() -> RunFacts:
    """The served run's facts (classes, ids, image files)."""
    return _run()["facts"]


def desk() -> Desk:
    """This thread's connection to the run."""
    return _run()["desks"].get()


def driver():
    """The round driver, or None when the server trains no rounds."""
    return _run()["driver"]


def notify() -> None:
    """Wake the round driver (an answer arrived, a setting changed); nothing without one."""
    if driver() is not None:
        driver().notify()


def note_seen(name) -> None:
    """Record that annotator ``name`` is here, at most every :data:`TOUCH_EVERY` seconds (a write per request
    would queue answers behind it)."""
    seen = _run()["seen"]
    now = time.time()
    if now - seen.get(name, 0.0) > TOUCH_EVERY:
        seen[name] = now
        access.touch(desk().db, name, now)


def progress_text() -> str:
    """The long step in progress in this process ("embedding images with ...: 1,234 of 3,000 images"), or ""."""
    from autoal.common.progress import current, describe

    return describe(current())
