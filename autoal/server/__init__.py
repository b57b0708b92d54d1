"""``autoal serve``: a labelling page for a team, and an organiser page, over a run folder.

Flask (routes, templates, test client) served by waitress (a pure-Python, multi-threaded WSGI server
that writes no access log, so the tokens in links never reach a log), with guards against connections
that hold it without asking anything (:mod:`autoal.server.listener`). The run's
:class:`~autoal.rounds.session.Session` is driven by one background thread (:mod:`autoal.server.driver`);
each request works through its own connection to the run store (:mod:`autoal.server.labelling`);
who may do what is declared on each route and checked in one place (:mod:`autoal.server.permissions`), with tokens kept only as hashes
(:mod:`autoal.server.access`).

>>> server = LabellingServer(run_dir, session, port=0).start()   # doctest: +SKIP
>>> server.url, server.links                                      # doctest: +SKIP
>>> server.close()                                                # doctest: +SKIP
"""

from __future__ import annotations

import threading

from autoal.annotation.specs import answering_later
from autoal.server import access
from autoal.server.labelling import RunFacts
from autoal.server.settings import set_settings
from autoal.store import labelling_queries

__all__ = ["LabellingServer", "issue_links", "page_annotator_names"]


def page_annotator_names(db) -> list:
    """Names of the run's annotators who answer later (page or file annotators), read through the server's
    connection ``db``: those who get links."""
    return answering_later(labelling_queries.run_settings(db))


def issue_links(run_dir, base_url, *, renew=False) -> list:
    """Links for the organiser and every page annotator that has none yet (all of them with ``renew``).

    Returns ``[(role, name, link or None), ...]``: None where a link was issued before and kept (only
    its hash is stored, so it cannot be shown again).
    """
    db = access.connect(run_dir)
    try:
        set_settings(db, base_url=base_url)
        out = []
        for role, name in [(access.ORGANISER, access.ORGANISER)] + [(access.ANNOTATOR, n) for n in page_annotator_names(db)]:
            if renew or not access.has_token(db, role, name):
                out.append((role, name, access.link(base_url, role, access.issue_token(db, role, name))))
            else:
                out.append((role, name, None))
        return out
    finally:
        db.close()


class LabellingServer:
    """The web app, its waitress server and the round driver for one run.

    Parameters
    ----------
    run_dir : path-like
        The run folder.
    session : Session
        The run's session (see :func:`autoal.rounds.loop.start_session`, :func:`autoal.rounds.loop.resume_session`);
        handed to the round driver's thread.
    host : str
        Address to listen on; 127.0.0.1 (this machine only) by default.
    port : int
        Port; 0 picks a free one (see :attr:`url`).
    threads : int
        Request threads.
    tick : float
        Seconds between the round driver's checks when nothing wakes it.
    log : callable, optional
        Where the driver's progress lines go (stderr by default).
    request_seconds : float, optional
        How long a request may take to arrive (:data:`autoal.server.listener.REQUEST_SECONDS` by default).
    """

    def __init__(self, run_dir, session, *, host="127.0.0.1", port=8765, threads=8, tick=2.0, log=None,
                 request_seconds=None):
        from autoal.server.app import create_app
        from autoal.server.driver import RoundDriver
        from autoal.server.json_body import MAX_BODY
        from autoal.server.listener import REQUEST_SECONDS, create_listener

        self.facts = RunFacts(run_dir)
        self.driver = RoundDriver(session, self.facts, tick=tick, log=log)
        self.app = create_app(self.facts, self.driver)
        self.server = create_listener(self.app, host=host, port=port, threads=threads, max_body=MAX_BODY,
                                      request_seconds=request_seconds or REQUEST_SECONDS)
        self.url = f"http://{host}:{self.server.effective_port}"
        self.app.config["AUTOAL_OWN_URL"] = self.url  # links' address when no --url was stored (never the Host header)
        self._thread = None

    def start(self) -> "LabellingServer":
        """Start the round driver and serve in a background thread (returns at once)."""
        self.driver.start()
        self._thread = threading.Thread(target=self.server.run, name="autoal-http", daemon=True)
        self._thread.start()
        return self

    def run(self) -> None:
        """Start the round driver and serve in this thread until interrupted."""
        self.driver.start()
        try:
            self.server.run()
        finally:
            self.close()

    def close(self) -> None:
        """Stop serving, let the driver finish its step, close the store connections."""
        from waitress import wasyncore

        # waitress's own shutdown order: request threads first, then every socket of its loop (the
        # listening one, open keep-alive connections, its trigger), so that the loop ends.
        self.server.task_dispatcher.shutdown(timeout=5)
        wasyncore.close_all(getattr(self.server, "_map", None) or getattr(self.server, "map", None))
        if self._thread is not None:
            self._thread.join(10)
        self.driver.stop()
        self.app.extensions["autoal"]["desks"].close()
        if self.driver.finished:  # the session is no longer used: its store closed, the run's writer lock given back
            self.driver.session.close()
