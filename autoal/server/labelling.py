"""What the labelling server reads and writes for one person, framework-free.

Every write (an answer, a skip, an undo, an edit) is one ``BEGIN IMMEDIATE`` transaction on the
run store that checks what may be done and does it, so two requests for the same example cannot
both pass the checks, and an answer is committed before the request returns. Writes go through
:class:`autoal.store.run_store.RunStore` methods on this module's own connection; reads are the questions
of :mod:`autoal.store.labelling_queries` on it. The action log (``server_actions``,
:mod:`autoal.store.server_tables`) says what ``undo`` withdraws.

An annotator sees and answers only their own open examples: assigned to them (in any round), neither
labelled nor skipped by them. Nothing here ever returns another annotator's answers. What the organiser
sees is :mod:`autoal.server.figures`.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from autoal.data.labels import UNKNOWN, match_class
from autoal.errors import InputError, first_few
from autoal.server import access
from autoal.store import labelling_queries as queries
from autoal.store import server_tables
from autoal.store.run_state import open_run
from autoal.store.run_store import STORE_FILE, AnswerConflict, DuplicateAnnotation, RunStore, Transaction

__all__ = ["RunFacts", "Desk", "Desks", "Refused"]

RECENT = 5  # answers shown (and editable) under the image


class Refused(InputError):
    """A request the server refuses; ``status`` is the HTTP status to answer with (4xx)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class RunFacts:
    """What the server needs about a run that does not change while it runs: classes, ids, image files.

    Parameters
    ----------
    run_dir : path-like
        The run folder.
    """

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        state = open_run(run_dir)
        try:
            self.classes = list(state.classes)
            self.class_names = [str(c) for c in self.classes]
            self.ids = list(state.ids)
            self.id_text = [str(i) for i in self.ids]
            self.position_of = {text: k for k, text in enumerate(self.id_text)}
            image_col = state.settings.get("image_col")
            if image_col is None or image_col not in state.data.frame.columns:
                raise InputError(f"the run in {str(run_dir)!r} has no image column; the labelling page shows one image "
                                 "per example: label a table without images through files (`autoal export-batch`)")
            self.image_paths = [str(p) for p in state.data.frame[image_col]]
            self.holdout_size = len(state.data.test)
            self.settings = dict(state.settings)
        finally:
            state.close()
        if len(self.position_of) != len(self.ids):
            raise InputError("some example ids are equal once written as text (e.g. 1 and '1'); give the examples "
                             "distinct ids to serve the run")

    def class_index(self, answer) -> int:
        """The class index of an answer (a class name as text), or Refused(422) naming the classes."""
        if not isinstance(answer, str) or len(answer) > 200:
            raise Refused(400, "label must be a class name (text)")
        value = match_class(answer, self.classes)
        if value is None or value is UNKNOWN:
            raise Refused(422, f"{answer[:60]!r} is not a class of this run; classes: {first_few(self.class_names, 20)}")
        return self.classes.index(value)

    def position(self, example_id) -> int:
        """The position of an example id given as text, or Refused(404)."""
        if not isinstance(example_id, (str, int)) or isinstance(example_id, bool) or len(str(example_id)) > 200:
            raise Refused(400, "example_id must be the example's id as text")
        position = self.position_of.get(str(example_id))
        if position is None:
            raise Refused(404, "no such example in this run")
        return position


class Desk:
    """One thread's connection to a run for serving people: an annotator's queue, answers, skips, edits and undo.

    The organiser's figures (:mod:`autoal.server.figures`) and the hand-over of an absent annotator's
    examples (:mod:`autoal.server.handover`) read and write through the same connection.

    Parameters
    ----------
    facts : RunFacts
    """

    def __init__(self, facts: RunFacts):
        self.facts = facts
        self.db = access.connect(facts.run_dir)
        self.store = RunStore(self.db, facts.run_dir / STORE_FILE)

    def close(self) -> None:
        """Close this desk's connection to the run store."""
        self.db.close()

    # -- reading one annotator's work ----------------------------------------------------------------

    def queue(self, name) -> list:
        """``[(round, position), ...]``: ``name``'s open examples, oldest round first, in the order assigned."""
        return queries.open_examples(self.db, name)

    def progress(self, name) -> dict:
        """``round`` (the latest round that asked ``name`` anything), ``done`` and ``assigned`` in it, and
        ``older_open``: examples still open from earlier rounds."""
        latest = queries.latest_round_asked(self.db, name)
        if latest is None:
            return {"round": None, "done": 0, "assigned": 0, "older_open": 0}
        assigned, done = queries.round_progress(self.db, name, latest)
        older = sum(1 for r, _ in self.queue(name) if r < latest)
        return {"round": latest, "done": done, "assigned": assigned, "older_open": older}

    def recent(self, name, n=RECENT) -> list:
        """``name``'s last ``n`` answered or skipped examples, newest first: ``example_id``, ``label`` (None
        for a skip), ``skipped``."""
        out = []
        for example in server_tables.recently_acted_on(self.db, name, n * 3):
            label = queries.label_given(self.db, example, name)
            if label is None and queries.skip_round(self.db, example, name) is None:
                continue  # undone since
            out.append({"example_id": self.facts.id_text[example],
                        "label": None if label is None else self.facts.class_names[label],
                        "skipped": label is None})
            if len(out) == n:
                break
        return out

    def can_undo(self, name) -> bool:
        """Whether ``name`` has an answer, skip or edit that :meth:`undo` would withdraw."""
        return server_tables.has_undoable_action(self.db, name)

    def holds(self, name, position) -> bool:
        """Whether ``name`` may see example ``position``: it was assigned to them (open or answered) or they
        labelled or skipped it."""
        return queries.may_see(self.db, name, position)

    def is_relabel(self, name, position) -> bool:
        """Whether someone else has labelled example ``position`` (asking ``name`` is a second opinion)."""
        return queries.labelled_by_another(self.db, position, name)

    def guess(self, position) -> dict | None:
        """The model's guess for an example: ``label`` and ``p`` from the probabilities the run kept
        (when it was picked, else cross-validated), or None when it has none."""
        probs = queries.guess_probabilities(self.db, position)
        if probs is None or len(probs) != len(self.facts.classes):
            return None
        best = int(probs.argmax())
        return {"label": self.facts.class_names[best], "p": round(float(probs[best]), 3)}

    # -- writing one annotator's answers -----------------------------------------------------------

    def _open_round(self, name, position) -> int:
        """The round of ``name``'s open assignment of ``position``, or Refused saying why there is none."""
        round_ = queries.first_assigned_round(self.db, position, name)
        if round_ is None:
            if queries.assigned_to_another(self.db, position, name):
                raise Refused(403, "this example is assigned to another annotator, not to you")
            raise Refused(403, "this example is not in any batch assigned to you")
        if queries.label_given(self.db, position, name) is not None:
            raise Refused(409, "you already answered this example; change your answer under 'Recent answers'")
        if queries.skip_round(self.db, position, name) is not None:
            raise Refused(409, "you skipped this example; change it under 'Recent answers'")
        return round_

    def _log(self, name, position, kind, label, previous, round_) -> None:
        server_tables.log_action(self.db, name, position, kind, label, previous, round_, time.time())

    def _transaction(self):
        return Transaction(self.db)

    def answer(self, name, example_id, label) -> None:
        """Store ``name``'s label (a class name) for one of their open examples, committed before returning."""
        position = self.facts.position(example_id)
        class_idx = self.facts.class_index(label)
        with self._transaction():
            round_ = self._open_round(name, position)
            try:
                self.store.add(position, name, class_idx, round_)
            except DuplicateAnnotation:
                raise Refused(409, "you already answered this example") from None
            except AnswerConflict:
                raise Refused(409, "you skipped this example; change it under 'Recent answers'") from None
            self._log(name, position, "label", class_idx, None, round_)
            access.touch(self.db, name)

    def skip(self, name, example_id) -> None:
        """Store that ``name`` cannot tell an open example; it is not asked of them again."""
        position = self.facts.position(example_id)
        with self._transaction():
            round_ = self._open_round(name, position)
            try:
                self.store.skip(position, name, round_)
            except AnswerConflict:
                raise Refused(409, "you already answered this example; change your answer under 'Recent answers'") from None
            self._log(name, position, "skip", None, None, round_)
            access.touch(self.db, name)

    def edit(self, name, example_id, label) -> None:
        """Change ``name``'s answer to an example they answered or skipped."""
        position = self.facts.position(example_id)
        class_idx = self.facts.class_index(label)
        with self._transaction():
            current = queries.annotation_of(self.db, position, name)
            skipped = queries.skip_round(self.db, position, name)
            if current is not None:
                old_label, old_round = current
                if old_label != class_idx:
                    self.store.change_label(position, name, class_idx)
                    self._log(name, position, "edit", class_idx, old_label, old_round)
            elif skipped is not None:  # a skip turned into a label, in this transaction
                self.store.unskip(position, name)
                self.store.add(position, name, class_idx, skipped)
                self._log(name, position, "edit", class_idx, None, skipped)
            else:
                raise Refused(409 if self.holds(name, position) else 403,
                              "you have not answered this example, so there is nothing to change")
            access.touch(self.db, name)

    def undo(self, name) -> dict:
        """Withdraw ``name``'s latest answer, skip or edit; returns what was undone (``example_id``, ``kind``) and,
        when a finished round already trained on that answer, ``trained_round`` and a ``note`` saying what the
        withdrawal changes (the next training, not the model already trained)."""
        with self._transaction():
            action = server_tables.last_action(self.db, name)
            if action is None:
                raise Refused(409, "nothing to undo")
            position = action.example
            trained_round = self._trained_round(position, name)
            if action.kind == "label":
                self.store.remove(position, name)
            elif action.kind == "skip":
                self.store.unskip(position, name)
            elif action.previous is None:  # an edit that turned a skip into a label: back to the skip
                self.store.remove(position, name)
                self.store.skip(position, name, action.round)
            else:
                self.store.change_label(position, name, action.previous)
            server_tables.mark_undone(self.db, action.seq)
            access.touch(self.db, name)
        undone = {"example_id": self.facts.id_text[position], "kind": action.kind}
        if trained_round is not None and action.kind != "skip":
            undone.update(trained_round=trained_round, note=(
                f"undone; round {trained_round} was already trained with this answer: the change counts from the "
                "next training on (the model trained then keeps it)"))
        return undone

    def _trained_round(self, position, name) -> int | None:
        """The latest finished round when it trained on ``name``'s annotation of ``position``, else None."""
        seq = queries.annotation_seq(self.db, position, name)
        latest = queries.latest_round_record(self.db)
        if seq is None or latest is None or seq > latest.get("watermark", 0):
            return None
        return int(latest["round"])


class Desks:
    """One :class:`Desk` per thread (a SQLite connection must not be shared by concurrent requests)."""

    def __init__(self, facts: RunFacts):
        self.facts = facts
        self._local = threading.local()
        self._all: list = []
        self._lock = threading.Lock()

    def get(self) -> Desk:
        desk = getattr(self._local, "desk", None)
        if desk is None:
            desk = self._local.desk = Desk(self.facts)
            with self._lock:
                self._all.append(desk)
        return desk

    def close(self) -> None:
        with self._lock:
            for desk in self._all:
                try:
                    desk.close()
                except Exception:  # noqa: BLE001 - closing from another thread at shutdown is best effort
                    pass
            self._all.clear()
