"""Label Studio as the labelling front end of a run: pull answers, train when the batch is answered, push the next.

One loop, one process, over the run's :class:`~autoal.rounds.session.Session` (the same steps ``autoal serve``
drives): every ``poll`` seconds it pulls the answers given in Label Studio (:func:`autoal.labelstudio.pull.pull`);
when every example of the round's batch has its answers it finishes the round (consensus, training,
holdout accuracy) and at once selects the next batch and pushes it (:func:`autoal.labelstudio.push.push`).
Every step commits before it returns, so stopping it (Ctrl+C) at any moment loses nothing; started
again, it goes on from the store. Do not drive the same run with ``autoal serve`` at the same time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from autoal.common.wording import accuracy_text, plural
from autoal.common.checks import Interval, Real, check_option
from autoal.errors import InputError
from autoal.labelstudio.project import connect
from autoal.labelstudio.pull import pull
from autoal.labelstudio.push import push
from autoal.rounds.outcomes import Dealt, Stopped, Waiting

__all__ = ["sync"]


def sync(run_dir, *, url, token, title=None, image_root=None, predictions="none", users=None, poll=1.0, log=print,
         stop=None, session=None) -> str:
    """Keep the run and its Label Studio project in step until the run stops (or ``stop`` is set).

    Parameters
    ----------
    run_dir : path-like
        The run folder (its annotators answer in Label Studio).
    url, token, title, image_root, predictions, users :
        As for :func:`autoal.labelstudio.push.push` and :func:`~autoal.labelstudio.pull.pull`.
    poll : float
        Seconds between looks at Label Studio while the batch waits for answers.
    log : callable
        Where progress lines go.
    stop : threading.Event, optional
        Set it to stop after the step in progress (Ctrl+C stops the loop too).
    session : Session, optional
        The run's session (default :func:`autoal.rounds.loop.resume_session`); closed on return.

    Returns
    -------
    str
        Why it stopped: the run's stop reason, or ``"stopped"`` when ``stop`` was set.
    """
    from autoal.rounds.loop import resume_session

    check_option("--poll", poll, Interval(Real, 0, None, closed="neither"), hint="seconds between looks, e.g. --poll 1")
    stop = stop or threading.Event()
    ls = connect(url, token)
    session = session or resume_session(run_dir, verbose=False)
    where = dict(url=url, token=token, title=title, state=session.state, ls=ls)
    looks, trouble = _Looks(), None
    try:
        while not stop.is_set():
            try:
                reason = _step(session, where, image_root, predictions, users, log, looks)
            except InputError as exc:  # Label Studio away or refusing: said once, tried again every poll
                if "project_id" not in where:
                    raise  # the first look fails loudly (wrong --url, token, --image-root, title)
                if str(exc) != trouble:
                    log(f"autoal labelstudio sync: {exc}; trying again every {poll:g} s (answers stored so far are kept)")
                trouble, reason = str(exc), None
            else:
                if trouble is not None:
                    log("autoal labelstudio sync: Label Studio answers again")
                trouble = None
            if reason:
                session.result(reason)
                log(f"autoal labelstudio sync: the run has stopped: {reason}")
                return reason
            if reason is None:
                stop.wait(poll)
        return "stopped"
    finally:
        session.close()


@dataclass
class _Looks:
    """What the loop's looks have done so far: the rounds pushed, whether an image was checked through Label Studio,
    and the rejections and notes already said."""

    pushed: set = field(default_factory=set)
    image_checked: bool = False
    reported: set = field(default_factory=set)


def _step(session, where, image_root, predictions, users, log, looks):
    """One look: a stop reason, ``""`` when there is more to do at once (a batch dealt, a round trained), else None.

    The first look pushes at once (it finds or makes the project, so a wrong setting fails before any training);
    after it, each round's batch is pushed once (tasks already there are left alone), one task's image checked
    through Label Studio on the first push that has tasks. A round with a batch has its answers pulled; then the
    session takes its step: it trains when the batch is answered.
    """
    r = session.next_round
    batch = r in looks.pushed or session.has_batch(r)
    if r not in looks.pushed and (batch or "project_id" not in where):
        _push(session, where, image_root, predictions, log, r, looks)
        if batch:
            looks.pushed.add(r)
    if batch:
        _log_pull(pull(session.state.folder, users=users, **where), log, looks.reported)
    started = time.perf_counter()
    outcome = session.advance()
    if isinstance(outcome, Stopped):
        return outcome.reason
    if isinstance(outcome, Waiting):
        return None
    if isinstance(outcome, Dealt):
        log(f"autoal labelstudio sync: round {r} selected in {time.perf_counter() - started:.1f} s")
        return ""
    row = outcome.row
    accuracy = row.get("accuracy")
    log(f"autoal labelstudio sync: round {r} trained on {row.get('n_labeled')} labelled examples in "
        f"{time.perf_counter() - started:.1f} s, holdout accuracy {accuracy_text(accuracy)}")
    return ""


def _push(session, where, image_root, predictions, log, r, looks) -> None:
    started = time.perf_counter()
    done = push(session.state.folder, image_root=image_root, predictions=predictions,
                check_image=not looks.image_checked, **where)
    where["project_id"] = done.project_id  # found (or made) once: later looks go straight to it
    looks.image_checked = looks.image_checked or bool(done.image_check)
    if done.pushed:
        log(f"autoal labelstudio sync: round {r} pushed in {time.perf_counter() - started:.1f} s: {done.message()}")


def _log_pull(report, log, reported) -> None:
    """Stored answers, and each rejection once (a rejection stays until someone edits the annotation in Label
    Studio: then the next pull reads it again), and each note about answers edited or deleted after they were
    stored, once."""
    if report.stored or report.skipped:
        who = ", ".join(f"{n}: {k}" for n, k in sorted(report.by_annotator.items()))
        log(f"autoal labelstudio sync: stored {plural(report.stored, 'label')}" + (f" ({who})" if who else "")
            + f", {plural(report.skipped, 'skip')}")
    for where, why in report.rejected:
        if (where, why) not in reported:
            reported.add((where, why))
            log(f"autoal labelstudio sync: not stored: {where}: {why}")
    for note in report.after_pull_notes():
        if note not in reported:
            reported.add(note)
            log(f"autoal labelstudio sync: {note}")
