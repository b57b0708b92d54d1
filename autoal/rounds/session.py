"""One run in progress: :meth:`Session.advance` takes its next step, the one place where a round's order is written.

A round is: stop? -> start (select and assign, or the initial set) -> ask the annotators who answer at once
-> wait for those who answer later? -> finish (consensus, train, evaluate, record). ``advance`` does the next of
these and says what happened (:mod:`autoal.rounds.outcomes`); :func:`autoal.rounds.loop.drive`, the labelling
server and the Label Studio sync call it in a loop and keep only their own input and output. Every step reads a
fresh snapshot of the run state and commits what it decides before returning, so the process may die between
any two steps (or inside one) and :func:`autoal.resume` goes on exactly.
"""

from __future__ import annotations

import time

import numpy as np

from autoal.common.json_values import finite_or_none
from autoal.common.wording import plural

from autoal.annotation.asking import ask_open_assignments
from autoal.errors import PoolExhausted
from autoal.multiannotator.round_consensus import RoundConsensus
from autoal.results.export import with_image_paths
from autoal.learners.embedding_source import EmbeddingSource
from autoal.results.reporting import RunReporter, annotator_table, consensus_table, label_counts
from autoal.results.result import RunResult
from autoal.store.run_state import GIVEN
from autoal.rounds.batch_picker import BatchPicker
from autoal.rounds.config import RunConfig
from autoal.rounds.outcomes import Dealt, Outcome, Stopped, Trained, Waiting
from autoal.rounds.pool_prediction import make_scorer, predict_pool
from autoal.rounds.stopping import StopMonitor

__all__ = ["Session"]


class Session:
    """The steps of a run over its :class:`~autoal.store.run_state.RunState`.

    Parameters
    ----------
    state : RunState
        The run's folder, store and examples.
    config : RunConfig
        The run's options, every ``"auto"`` resolved (:meth:`RunConfig.resolved`).
    learner : Learner
        Configured for the run (classes, columns, folder, seed); retrained every round.
    annotators : list of Annotator
        Who labels; prepared here with the classes (and the hidden truth in simulation).
    """

    def __init__(self, state, config: RunConfig, learner, annotators):
        self.state, self.config, self.settings = state, config, state.settings
        data = state.data
        self.inputs = data.frame.drop(columns=[state.label])  # what learners and annotators see: no labels
        self.learner = learner
        learner.set_population(self.inputs)
        self.truth = np.array([state.class_index[c] for c in data.frame[state.label]]) if data.simulation else None
        for annotator in annotators:
            self._prepare(annotator)
        self.annotators, self.names = annotators, [a.name for a in annotators]
        self.scorer = make_scorer(config.scoring)
        self.round_consensus = RoundConsensus(state.store, self.inputs, data.classes, state.label, self.names,
                                              oos=config.oos, folds=config.folds, random_state=config.random_state,
                                              predict=self._predict)
        self.embeddings = EmbeddingSource(self.learner, self.inputs)
        self.picker = BatchPicker(state, config, self.annotators, self.names, self.embeddings, self.round_consensus,
                                  self.scorer)
        records = state.store.rounds()
        self.stop = self._stop_monitor(records[-1][1] if records else None)
        self.reporter = RunReporter(state.folder, self.settings, data, verbose=config.verbose,
                                    rows=[record for record, _ in records])
        self.trained_at = None  # watermark of the labels the learner in memory was trained on
        self.model_unsaved = None  # why the learner cannot be saved, once found out
        self.last_consensus: tuple | None = None  # (Consensus, positions) the learner in memory was trained on
        self.asked: set = set()  # rounds whose annotators who answer at once were asked in this session

    # -- set-up ------------------------------------------------------------------------------------

    def _stop_monitor(self, previous):
        rule = self.config.stop
        if rule is None:
            return None
        candidates = np.ones(len(self.state.ids), dtype=bool)
        candidates[self.state.positions(self.state.data.initial_ids)] = False
        return StopMonitor(rule, rule.stop_set(np.flatnonzero(candidates), self.config.random_state), previous)

    # -- the steps ---------------------------------------------------------------------------------

    @property
    def rows(self) -> list:
        """The finished rounds' history rows."""
        return self.reporter.rows

    @property
    def next_round(self) -> int:
        """The round to work on: the one after the last recorded round."""
        return self.rows[-1]["round"] + 1 if self.rows else 0

    def stop_reason(self) -> str | None:
        """Why the run should not start another round (target reached, stable, rounds done), or None."""
        if not self.rows:
            return None
        target = self.config.target_accuracy
        if target is not None and self.rows[-1]["accuracy"] >= target:
            return f"target accuracy {target} reached"
        if self.stop is not None and self.stop.should_stop(self.rows):
            return self.stop.message()
        if self.next_round > self.config.n_rounds:
            n = self.config.n_rounds
            return f"{plural(n, 'round')} done"
        return None

    def advance(self, *, train=False, on_phase=None) -> Outcome:
        """Take the run's next step and say what happened; the one place where a round's order is written.

        In order: a stop reason ends the run (:class:`Stopped`); a round without a batch gets one, and the
        annotators who answer at once are asked (:class:`Dealt`); a round whose annotators who answer later still
        owe labels waits (:class:`Waiting`), unless ``train``; else the round is finished (:class:`Trained`).

        Parameters
        ----------
        train : bool
            Finish the round with the answers that have arrived, even if some are still owed.
        on_phase : callable, optional
            ``on_phase("selecting" | "training", round)`` is called before the two long steps (a page's status).
        """
        reason = self.stop_reason()
        if reason:
            return Stopped(reason)
        r = self.next_round
        if r not in self.asked:
            dealt = False
            snapshot = self.state.snapshot()
            if not len(snapshot.assigned_in(r)):
                if on_phase:
                    on_phase("selecting", r)
                try:
                    dealt = self._start_round(r, snapshot)
                except PoolExhausted as exhausted:
                    return Stopped(str(exhausted))
            if any(not a.answers_later for a in self.annotators):
                self._ask(r)
            self.asked.add(r)
            if dealt:
                return Dealt(r)
        waiting = self._waiting(r)
        if waiting.owed and not train:
            return waiting
        if on_phase:
            on_phase("training", r)
        return Trained(r, self._finish_round(r))

    def has_batch(self, r) -> bool:
        """Whether round ``r`` has made assignments (its batch, or round 0's initial set)."""
        return bool(len(self.state.snapshot().assigned_in(r)))

    def join(self, annotator) -> bool:
        """Add ``annotator`` to the run's team (it gets examples from the next batch on); False when one of that
        name is in already."""
        if annotator.name in self.names:
            return False
        self._prepare(annotator)
        self.annotators.append(annotator)
        self.names.append(annotator.name)
        names = self.settings.setdefault("annotator_names", [])
        if annotator.name not in names:
            names.append(annotator.name)
            self.settings.setdefault("annotators", []).append(annotator.spec())
        return True

    def _prepare(self, annotator) -> None:
        """Give ``annotator`` the run's classes and image column (and, in simulation, the hidden truth)."""
        data = self.state.data
        annotator.prepare(classes=data.classes, true_labels=data.frame[self.state.label] if data.simulation else None,
                          image_col=self.config.image_col)

    def stop_workers(self) -> None:
        """Shut the pool scorer's Ray runtime down and close the fold models (the run's store stays open)."""
        if self.scorer is not None:
            self.scorer.shutdown()
        self.round_consensus.close()

    def close(self) -> None:
        """:meth:`stop_workers` and close the run's store (the run's writer lock given back, whatever happens)."""
        try:
            self.stop_workers()
        finally:
            self.state.close()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start_round(self, r, snapshot) -> bool:
        """Select round ``r``'s batch from ``snapshot`` (the state it has no batch in) and commit its assignments (the
        initial set in round 0); True when it assigned any (round 0 of a run that starts from given labels assigns
        none).

        Raises
        ------
        PoolExhausted
            When nothing is left to pick; its message is the run's stop reason.
        """
        if r == 0:
            return self.picker.deal_initial(snapshot)
        refit_started = time.perf_counter()
        refitted = self._ensure_trained(snapshot)
        facts = {"resume_fit_seconds": time.perf_counter() - refit_started} if refitted else {}
        self.picker.deal(r, snapshot, self.learner, facts)
        return True

    def _ask(self, r) -> float:
        """Ask the in-process annotators for their open assignments (answers committed one by one); returns
        the seconds it took, also kept with the round's selection facts (``annotate_seconds``)."""
        seconds = ask_open_assignments(self.state, self.annotators, self.inputs, r)
        self.state.store.add_selection_facts(r, annotate_seconds=seconds)
        return seconds

    def _waiting(self, r) -> Waiting:
        """Who among the annotators who answer later still owes labels for round ``r`` (``owed`` empty when none)."""
        later = [a.name for a in self.annotators if a.answers_later]
        if not later:
            return Waiting(r)  # nobody answers later: nothing to read
        snapshot = self.state.snapshot()
        asked = snapshot.assigned_annotator[snapshot.assigned_round == r]
        owed = snapshot.owed(r, later)
        if not owed:
            return Waiting(r, {}, len(asked))
        listed = ", ".join(f"{n} ({k} of {int((asked == snapshot.code(n)).sum())} pending)" for n, k in owed.items())
        out = self.state.folder
        return Waiting(r, owed, len(asked), (
            f"round {r} waits for labels from {listed}: through the labelling page (`autoal serve {out}`) or "
            f"files (`autoal export-batch {out} --annotator NAME` writes a person's CSV, `autoal import-labels "
            f"{out} FILE.csv --annotator NAME` stores it), then `autoal resume {out}` goes on (`--partial` "
            "trains on what has arrived; the rest stays with its annotators)"))

    def _finish_round(self, r) -> dict:
        """Consensus, training, holdout accuracy and the round's record, committed; returns the history row."""
        snapshot = self.state.snapshot()
        started = time.perf_counter()
        consensus, positions = self.round_consensus.consensus(snapshot, self.learner, self.next_round)
        consensus_seconds = time.perf_counter() - started
        fit_seconds = self._fit(self._training_set(consensus, positions), snapshot.watermark)
        accuracy, eval_seconds = self._evaluate()
        stop_fields, predictions = self.stop.observe(self.learner, self.inputs) if self.stop else ({}, None)
        previous = self.rows[-1]["watermark"] if self.rows else 0
        row = {"round": r, "picked_ids": self._picked_ids(snapshot, r), **label_counts(snapshot, previous),
               "accuracy": accuracy, "consensus_seconds": consensus_seconds, "fit_seconds": fit_seconds,
               "eval_seconds": eval_seconds, "consensus_method": consensus.method,
               **self.state.store.selection(r), **stop_fields, **self.learner.last_fit_info_,
               "watermark": snapshot.watermark, "max_labels_per_example": int(snapshot.counts.max(initial=0))}
        if self.truth is not None:
            row["consensus_accuracy"] = float((consensus.labels == self.truth[positions]).mean())
        row = RunReporter.complete(row, self.state.data.holdout)
        self.state.store.record_round(r, row, predictions)
        self.reporter.add_round(row)
        self.last_consensus = (consensus, positions)
        self._save_model(row)
        return row

    def _save_model(self, row) -> None:
        """Keep the learner just trained in ``RUN_DIR/model/`` (:mod:`autoal.results.model`); a learner that cannot be
        saved is said once, and the run goes on."""
        from autoal.results.model import MODEL_DIR, save_model

        if self.model_unsaved is not None:
            return
        facts = {"round": int(row["round"]), "n_labeled": int(row["n_labeled"]),
                 "n_annotations": int(row["n_annotations"]), "accuracy": finite_or_none(row.get("accuracy")),
                 "holdout": self.state.data.holdout, "n_holdout": int(len(self.state.data.test)),
                 "run_id": self.state.store.run_id, "trained_on": "the run's consensus labels"}
        try:
            save_model(self.learner, self.state.folder / MODEL_DIR, facts)
        except NotImplementedError as exc:
            self.model_unsaved = str(exc)
            if self.config.verbose:
                print(f"  note: the run's model is not saved: {exc}")

    def result(self, stop_reason, *, paused=False) -> "RunResult":
        """Write the run's files and return its :class:`~autoal.results.result.RunResult`; ``paused``: the run is
        not over (it waits for answers or was interrupted) and ``stop_reason`` says what it waits for."""
        snapshot = self.state.snapshot()
        consensus, positions = self.last_consensus or (None, np.zeros(0, dtype=np.int64))
        if self.last_consensus is None and snapshot.n_annotations:
            consensus, positions = self.round_consensus.consensus(snapshot, self.learner, self.next_round)
        labels = self.state.labels_table(snapshot)
        annotators = annotator_table(self.state, consensus, self.round_consensus.columns(snapshot), snapshot, self.truth)
        people = with_image_paths(self.state, labels, snapshot.example)  # labels.csv: also each example's image
        history = self.reporter.finish(people, stop_reason, annotators, paused=paused)
        consensus_frame = consensus_table(self.state, consensus, positions, snapshot)
        return RunResult(history, labels, consensus_frame, annotators, self.learner, self.state.classes,
                         list(self.state.data.test.index), self.state.folder, self.reporter.summary)

    def _predict(self, learner, frame):
        return predict_pool(learner, frame, self.scorer)

    # -- consensus and training --------------------------------------------------------------------

    def _training_set(self, consensus, positions):
        """The examples at ``positions`` with their consensus labels."""
        labels = np.asarray(self.state.classes)[consensus.labels]
        return self.inputs.iloc[positions].assign(**{self.state.label: labels})

    def _fit(self, train, watermark) -> float:
        started = time.perf_counter()
        self.learner.fit(train)
        self.trained_at = watermark
        return time.perf_counter() - started

    def _ensure_trained(self, snapshot) -> bool:
        """A resumed run retrains on the labels the last recorded round trained on, before scoring; True when it did."""
        if self.trained_at is None and self.rows:
            watermark = self.rows[-1]["watermark"]
            self.last_consensus = self.round_consensus.consensus(snapshot.up_to(watermark), self.learner, self.next_round)
            self._fit(self._training_set(*self.last_consensus), watermark)
            return True
        return False

    def _evaluate(self) -> tuple:
        started = time.perf_counter()
        test = self.state.data.test
        accuracy = float("nan")
        if len(test):
            probs = self.learner.predict_proba(test.drop(columns=[self.state.label]))
            truth = np.array([self.state.class_index[c] for c in test[self.state.label]])
            accuracy = float((probs.argmax(axis=1) == truth).mean())
        return accuracy, time.perf_counter() - started

    def _picked_ids(self, snapshot, r) -> list:
        positions = snapshot.assigned_in(r)
        if r == 0 and GIVEN in snapshot.names:
            given = snapshot.example[snapshot.annotator == snapshot.code(GIVEN)]
            positions = np.concatenate([given, positions[~np.isin(positions, given)]])
        return self.state.ids_of(positions)
