"""The rounds behind the labelling page: one background thread drives the run's :class:`~autoal.rounds.session.Session`.

The thread owns the session (its learner, its store connection); web requests never touch it. It
wakes on every answer (and every few seconds), and:

- starts the round to work on when it has no batch yet (selects and assigns it, committed);
- when every example of the round's batch has its answers from the page's annotators, or when the
  organiser pressed "train now", finishes the round (consensus, training, holdout accuracy, record)
  and at once starts the next one, so the next batch is served without anyone typing a command;
- hands on the open examples of an annotator who has stayed away longer than the organiser's setting.

Annotators keep answering while it trains: their answers are committed by the request threads and
counted in the next round. Every step commits before it returns, so the server may be killed at any
moment and, started again, goes on from the store (:func:`autoal.rounds.loop.resume_session`).
"""

from __future__ import annotations

import sys
import threading
import time
import traceback

from autoal.common.json_values import finite_or_none
from autoal.common.wording import accuracy_text
from autoal.rounds.outcomes import Dealt, Stopped, Trained
from autoal.server import access, figures
from autoal.server.handover import reassign_stale
from autoal.server.labelling import Desk
from autoal.server.settings import get_settings

__all__ = ["RoundDriver"]


class RoundDriver:
    """Drive ``session``'s rounds in a background thread; see the module's docstring.

    Parameters
    ----------
    session : Session
        The run (from :func:`autoal.rounds.loop.start_session` or :func:`autoal.rounds.loop.resume_session`); used by
        this driver's thread only, once started.
    facts : RunFacts
        The run's fixed facts (for the driver's own store connection).
    tick : float
        Seconds between checks when nothing wakes the thread (hand-overs, annotators added meanwhile).
    log : callable
        Where progress lines go (never a token or a request: only rounds, counts and errors).
    """

    def __init__(self, session, facts, *, tick=2.0, log=None):
        self.session, self.facts, self.tick = session, facts, tick
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self._wake = threading.Event()
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._train_requested = False
        self._status = {"phase": "starting", "round": None, "message": "starting", "error": None,
                        "stop_reason": None, "rounds_trained": len(session.rows), "last_trained": None,
                        "batch_served_at": None}
        self._thread = threading.Thread(target=self._run, name="autoal-rounds", daemon=True)
        self._result_written = False

    # -- control (any thread) ----------------------------------------------------------------------

    def start(self) -> "RoundDriver":
        self._thread.start()
        return self

    def stop(self, timeout=30.0) -> None:
        """Ask the thread to stop after the step in progress and wait for it (a training step finishes first);
        then write the run's files for people (``labels.csv``, ``annotators.csv``, ``summary.json``, the curve) from
        the store as they are now: as a paused run's, or, when the run has finished, as a finished run's, with
        the answers given to its last batch's open examples after it finished."""
        self._halt.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._result_written = True
        self._write_people_files(self.status())

    def _write_people_files(self, status) -> None:
        from autoal.results.export import write_people_files

        run_dir = self.facts.run_dir
        finished = status["phase"] == "stopped" and status["stop_reason"]
        reason = status["stop_reason"] if finished else f"the labelling server stopped (`autoal serve {run_dir}` goes on)"
        try:
            write_people_files(run_dir, reason, paused=not finished)
        except Exception:  # noqa: BLE001 - every answer is in the store; the files are copies
            self.log("autoal serve: could not write labels.csv and the run's other files:\n" + traceback.format_exc())

    @property
    def finished(self) -> bool:
        """Whether the driver's thread has ended (or never started): the session is free to close."""
        return not self._thread.is_alive()

    def notify(self) -> None:
        """Something changed (an answer, a setting): check the round now."""
        self._wake.set()

    def train_now(self, new_answers: int) -> tuple:
        """Ask for the round in progress to be finished with the answers given so far.

        Parameters
        ----------
        new_answers : int
            Answers (labels and changed labels) that arrived since the last trained round
            (:func:`autoal.server.figures.news`). With none, the request is refused: training would
            change nothing, yet would count as a round and deal another batch on top of the open ones.

        Returns ``(accepted, message)``; refused also while training, before the run started or after it stopped.
        """
        with self._lock:
            phase, round_ = self._status["phase"], self._status["round"]
            if phase == "error" and new_answers < 1:
                self._wake.set()  # the failed step (a selection) is tried again; there is nothing to train on
                return True, f"retrying the failed step of round {round_} now"
            if phase == "labelling" and new_answers < 1 and not self._status["rounds_trained"]:
                return False, "nothing to train on yet: no answer has arrived. Train once some are in (a full batch trains by itself)"
            if phase == "labelling" and new_answers < 1:
                return False, ("nothing new to train on: no answer has arrived since the last trained round, so training "
                               "would change nothing and only deal another batch on top of the open ones. Train once "
                               "some answers are in (a full batch trains by itself)")
            if phase in ("labelling", "error"):
                self._train_requested = True
                self._wake.set()
                return True, f"training round {round_}: {new_answers} new answer(s) since the last trained round"
            if phase in ("training", "selecting"):
                return False, f"already {phase} (round {round_}); the next batch follows"
            if phase == "stopped":
                return False, f"the run has stopped: {self._status['stop_reason']}"
            return False, f"not ready yet ({self._status['message']}); try again in a moment"

    def status(self) -> dict:
        """A copy of the driver's status: ``phase`` (starting, selecting, labelling, training, stopped, error),
        ``round``, ``message``, ``error``, ``stop_reason``, ``rounds_trained``, ``last_trained`` and
        ``batch_served_at`` (epoch seconds)."""
        with self._lock:
            return dict(self._status)

    def wait_for(self, predicate, timeout) -> dict:
        """Poll :meth:`status` until ``predicate(status)`` holds; returns it (TimeoutError after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if predicate(status):
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"the round driver did not get there in {timeout} s; status: {status}")
            time.sleep(0.02)

    # -- the thread --------------------------------------------------------------------------------

    def _set(self, **changes) -> None:
        with self._lock:
            self._status.update(changes)

    def _run(self) -> None:
        desk = Desk(self.facts)
        try:
            while not self._halt.is_set():
                try:
                    again = self._step(desk)
                except Exception as exc:  # noqa: BLE001 - shown to the organiser, the server keeps serving answers
                    self.log("autoal serve: the round step failed:\n" + traceback.format_exc())
                    self._set(phase="error", error=f"{type(exc).__name__}: {exc}",
                              message="the last step failed; answers are still stored. Press 'train now' to retry")
                    self._train_requested = False
                    again = False
                    self._wake.wait(self.tick * 5)
                if not again:
                    self._wake.wait(self.tick)
                self._wake.clear()
        finally:
            desk.close()

    def _page_names(self) -> list:
        return [a.name for a in self.session.annotators if a.answers_later]

    def _sync_annotators(self, desk) -> None:
        """Annotators added while serving (``autoal annotators add``) join the session's team."""
        from autoal.annotation.annotators import PageAnnotator

        for name in access.annotator_names(desk.db):
            if name not in self.session.names and self.session.join(PageAnnotator(name)):
                self.log(f"autoal serve: annotator {name} joined; they get examples from the next batch")

    def _step(self, desk) -> bool:
        """One check; True when there is more to do at once."""
        self._sync_annotators(desk)
        if self._status["phase"] == "stopped":
            return False
        with self._lock:
            train, self._train_requested = self._train_requested, False
        outcome = self.session.advance(train=train, on_phase=lambda phase, r: self._enter(phase, r, desk))
        if train and not isinstance(outcome, Trained):
            with self._lock:  # asked for before the batch was dealt: the next step trains it
                self._train_requested = True
        if isinstance(outcome, Stopped):
            return self._finish_run(outcome.reason)
        if isinstance(outcome, Dealt):
            self._set(batch_served_at=time.time())
        elif isinstance(outcome, Trained):
            self._trained(desk, outcome)
        else:
            self._labelling(desk, outcome)
            return False
        return True

    def _enter(self, phase, r, desk) -> None:
        """The session starts a long step: shown on the organiser's page."""
        if phase == "training":
            figures.mark_trained(desk)  # before the round's snapshot: an edit made while it trains counts as new
        self._set(phase=phase, round=r, message=f"selecting round {r}'s batch" if phase == "selecting"
                  else f"training round {r}", error=None)

    def _labelling(self, desk, waiting) -> None:
        """The round waits for the page's annotators: show the count, hand on the examples of those away."""
        answered = waiting.assigned - sum(waiting.owed.values())
        with self._lock:
            self._status.update(phase="labelling", round=waiting.round, error=None,
                                message=f"round {waiting.round}: {answered} of {waiting.assigned} answered")
        settings = get_settings(desk.db)
        moved = reassign_stale(desk, self._page_names(), settings["reassign_after_minutes"])
        for example_id, old, new in moved:
            self.log(f"autoal serve: example {example_id} handed from {old} (away) to {new}")

    def _trained(self, desk, trained) -> None:
        row, r = trained.row, trained.round
        consensus, _ = self.session.last_consensus
        if consensus is not None:
            quality = {str(k): finite_or_none(v) for k, v in consensus.annotator_quality.items()}
            figures.save_quality(desk, quality)
        accuracy = row.get("accuracy")
        # the history's own figures (autoal.results.reporting.STAGE_SECONDS), so that this line and history.csv agree
        self.log(f"autoal serve: round {r} trained on {row.get('n_labeled')} labelled examples: fit "
                 f"{row['fit_seconds']:.1f} s, round {row['round_seconds']:.1f} s (selecting, training and evaluating), "
                 f"holdout accuracy {accuracy_text(accuracy)}")
        with self._lock:
            self._status.update(rounds_trained=self._status["rounds_trained"] + 1, last_trained=time.time())

    def _finish_run(self, reason) -> bool:
        if not self._result_written:  # the run's files first: "stopped" means they are written
            self.session.result(reason)
            self.session.stop_workers()  # the run is over: Ray and the fold models are let go at once
            self._result_written = True
            self.log(f"autoal serve: the run has stopped: {reason}")
        self._set(phase="stopped", stop_reason=reason, message=f"the run has stopped: {reason}")
        return False
