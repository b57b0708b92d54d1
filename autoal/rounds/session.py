"""One run in progress, as steps that can be called one at a time.

A round is: stop? -> start (select and assign, or the initial set) -> ask -> wait? -> finish (consensus,
train, evaluate, record). :func:`autoal.rounds.loop.drive` runs them in a loop for ``autoal.run``; a server
can call the same steps itself (start a round, let people answer through the run state, finish it).
Every step reads a fresh snapshot of the run state and commits what it decides before returning, so
the process may die between any two steps (or inside one) and :func:`autoal.resume` goes on exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from autoal.annotation.asking import ask_open_assignments
from autoal.errors import PoolExhausted
from autoal.annotation.assignment import assign_batch
from autoal.query.cold_start import (COVERAGE_LABELS_PER_CLASS, candidate_sample, coverage_examples, typical_examples,
                                     uncovered_examples)
from autoal.multiannotator.consensus import consensus_labels, majority_vote
from autoal.multiannotator.crowdlab import CrowdlabMemo
from autoal.results.export import with_image_paths
from autoal.learners.embedding_source import EmbeddingSource
from autoal.multiannotator.fold_models import FoldModels
from autoal.multiannotator.out_of_sample import OutOfSampleProbs, cross_val_probs
from autoal.results.reporting import RunReporter, annotator_table, consensus_table, label_counts
from autoal.results.result import RunResult
from autoal.store.run_state import GIVEN
from autoal.rounds.config import RunConfig
from autoal.rounds.scoring import make_scorer, predict_pool
from autoal.query.selection import Scores, select_batch
from autoal.rounds.stopping import StopMonitor
from autoal.query.context import PoolContext
from autoal.query.strategies import call_strategy, get_strategy, takes_keyword

__all__ = ["Session", "ScoredRound"]


@dataclass(frozen=True)
class ScoredRound:
    """What scoring a round gives the selection: the scores, the pool's probabilities (stored with the picks as
    pick-time probabilities) and the timings for the round's record."""

    scores: Scores
    pool_probs: np.ndarray
    timings: dict


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
            annotator.prepare(classes=data.classes, true_labels=data.frame[state.label] if data.simulation else None,
                              image_col=config.image_col)
        self.annotators, self.names = annotators, [a.name for a in annotators]
        self.crowdlab_memo = CrowdlabMemo()  # shared by the consensus and ActiveLab: CROWDLAB once per label set
        self.score_fn = get_strategy(config.strategy, random_state=config.random_state, memo=self.crowdlab_memo)
        self.scorer = make_scorer(config.scoring)
        self.features = EmbeddingSource(self.learner, self.inputs)
        self.oos = OutOfSampleProbs(state.store, len(state.ids), len(data.classes))
        self.fold_models, self.folds_at = None, None
        records = state.store.rounds()
        self.stop = self._stop_monitor(records[-1][1] if records else None)
        self.reporter = RunReporter(state.folder, self.settings, data, verbose=config.verbose,
                                    rows=[record for record, _ in records])
        self.trained_at = None  # watermark of the labels the learner in memory was trained on
        self.model_unsaved = None  # why the learner cannot be saved, once found out
        self.last_consensus: tuple | None = None  # (Consensus, positions) the learner in memory was trained on

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
            return f"{n} round{'s' if n != 1 else ''} done"
        return None

    def start_round(self, r) -> None:
        """Select round ``r``'s batch and commit its assignments (the initial set in round 0).

        Does nothing when the round was already started (a resumed run).

        Raises
        ------
        PoolExhausted
            When nothing is left to pick; its message is the run's stop reason.
        """
        snapshot = self.state.snapshot()
        if len(snapshot.assigned_in(r)):
            return None
        if r == 0:
            self._start_initial(snapshot)
            return
        refit_started = time.perf_counter()
        refitted = self._ensure_trained(snapshot)
        refit_seconds = time.perf_counter() - refit_started
        scored = self._score(r, snapshot)
        started = time.perf_counter()
        seed, config = self.config.random_state, self.config
        rule = config.batch
        if rule == "coverage-first":
            few = len(snapshot.labelled) < COVERAGE_LABELS_PER_CLASS * len(self.state.classes)
            rule = "coverage" if few else "kmeans"
        if rule == "coverage":
            picked, policy_facts = self._uncovered_batch(snapshot, scored.scores.pool), {}
        else:
            picked, policy_facts = select_batch(
                scored.scores, snapshot, self.names, config.batch_size, rule=rule, policy=config.relabel,
                features_of=self.features, candidates_factor=config.candidates_factor,
                random_state=np.random.default_rng([seed, r]), policy_random_state=[seed, r, 5])
        pairs = assign_batch(picked, snapshot, self.names)
        if not pairs:
            raise PoolExhausted(waiting=int(snapshot.open_examples.sum()),
                                relabeling=self.config.relabel is not None and len(self.names) > 1)
        relabels = int((snapshot.counts[[p for p, _ in pairs]] > 0).sum())
        facts = dict(scored.timings, **policy_facts, select_seconds=time.perf_counter() - started,
                     batch_rule=rule, oos=config.oos, relabel_share=relabels / len(pairs))
        if refitted:
            facts["resume_fit_seconds"] = refit_seconds
        self._commit_batch(r, pairs, scored, facts)
        if len(pairs) < config.batch_size and config.verbose:
            print(f"  batch_size {config.batch_size} > {len(pairs)} examples left to label: taking all of them")

    def ask(self, r) -> float:
        """Ask the in-process annotators for their open assignments (answers committed one by one); returns
        the seconds it took, also kept with the round's selection facts (``annotate_seconds``)."""
        seconds = ask_open_assignments(self.state, self.annotators, self.inputs, r)
        self.state.store.add_selection_facts(r, annotate_seconds=seconds)
        return seconds

    def waiting(self, r) -> str:
        """A message naming who still owes labels for round ``r`` (annotators answering later), or ``""``."""
        later = [a.name for a in self.annotators if a.answers_later]
        if not later:
            return ""
        snapshot = self.state.snapshot()
        _, _, names = snapshot.pending(annotators=later, rounds=[r])
        if not len(names):
            return ""
        asked = snapshot.assigned_annotator[snapshot.assigned_round == r]
        owed = ", ".join(f"{n} ({k} of {int((asked == snapshot.code(n)).sum())} pending)"
                         for n, k in zip(*np.unique(names, return_counts=True)))
        out = self.state.folder
        return (f"round {r} waits for labels from {owed}: through the labelling page (`autoal serve {out}`) or "
                f"files (`autoal export-batch {out} --annotator NAME` writes a person's CSV, `autoal import-labels "
                f"{out} FILE.csv --annotator NAME` stores it), then `autoal resume {out}` goes on (`--partial` "
                "trains on what has arrived; the rest stays with its annotators)")

    def finish_round(self, r) -> dict:
        """Consensus, training, holdout accuracy and the round's record, committed; returns the history row."""
        snapshot = self.state.snapshot()
        started = time.perf_counter()
        consensus, positions = self._consensus(snapshot)
        consensus_seconds = time.perf_counter() - started
        fit_seconds = self._fit(self._training_set(consensus, positions), snapshot.watermark)
        accuracy, eval_seconds = self._evaluate()
        stop_fields, predictions = self.stop.observe(self.learner, self.inputs) if self.stop else ({}, None)
        previous = self.rows[-1]["watermark"] if self.rows else 0
        row = {"round": r, "picked_ids": self._picked_ids(snapshot, r), **label_counts(snapshot, previous),
               "accuracy": accuracy, "consensus_seconds": consensus_seconds, "fit_seconds": fit_seconds,
               "eval_seconds": eval_seconds, "consensus_method": consensus.method,
               **self.state.store.selection(r), **stop_fields, **getattr(self.learner, "last_fit_info_", {}),
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
                 "n_annotations": int(row["n_annotations"]), "accuracy": _number(row.get("accuracy")),
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
        if self.scorer is not None:
            self.scorer.shutdown()
        snapshot = self.state.snapshot()
        consensus, positions = self.last_consensus or (
            self._consensus(snapshot) if snapshot.n_annotations else (None, np.zeros(0, dtype=np.int64)))
        labels = self.state.labels_table(snapshot)
        annotators = annotator_table(self.state, consensus, self._columns(snapshot), snapshot, self.truth)
        people = with_image_paths(self.state, labels, snapshot.example)  # labels.csv: also each example's image
        history = self.reporter.finish(people, stop_reason, annotators, paused=paused)
        consensus_frame = consensus_table(self.state, consensus, positions, snapshot)
        return RunResult(history, labels, consensus_frame, annotators, self.learner, self.state.classes,
                         list(self.state.data.test.index), self.state.folder, self.reporter.summary)

    # -- starting a round --------------------------------------------------------------------------

    def _start_initial(self, snapshot) -> None:
        data = self.state.data
        picked = self.config.initial in ("kmeans", "coverage")
        if not data.simulation and not picked:
            return None  # real mode: the given labels, stored with the run, are round 0
        started = time.perf_counter()  # the cold start embeds the whole pool: round 0's select_seconds count it
        positions = self._picked_initial_set(snapshot) if picked else self.state.positions(data.initial_ids)
        # those who answer at once take the initial set; with none (files, the labelling page) round 0 waits for them
        asking = [a.name for a in self.annotators if not a.answers_later] or self.names
        self.state.assign(0, [(int(p), asking[k % len(asking)]) for k, p in enumerate(positions)],
                          facts={"select_seconds": time.perf_counter() - started})
        return None

    def _picked_initial_set(self, snapshot) -> np.ndarray:
        """Cold start (:mod:`autoal.query.cold_start`): of k k-means clusters, each one's most typical unlabelled
        example (``initial="kmeans"``) or its central one in the learner's graph space (``"coverage"``)."""
        pool = np.flatnonzero(snapshot.counts == 0)
        seed = self.config.random_state
        pool = pool[candidate_sample(len(pool), random_state=[seed, 17])]
        k = len(self.state.data.initial_ids) if self.state.data.simulation else self.config.batch_size
        if self.config.initial == "coverage":
            return pool[coverage_examples(self.features.coverage(pool), k, random_state=seed)]
        return pool[typical_examples(self.features(pool), k, random_state=seed)]

    def _uncovered_batch(self, snapshot, pool) -> np.ndarray:
        """``batch="coverage-first"`` while labels are few: of the pool examples some annotator can be asked about,
        those that cover what the labelled examples do not (:func:`autoal.query.cold_start.uncovered_examples`, in
        the learner's graph space)."""
        pool = np.asarray(pool, dtype=np.int64)
        pool = pool[snapshot.askable(pool, self.names) > 0]
        seed = self.config.random_state
        pool = pool[candidate_sample(len(pool), random_state=[seed, 19])]
        labelled = np.asarray(snapshot.labelled, dtype=np.int64)
        points = self.features.coverage(np.concatenate([labelled, pool]))
        rows = uncovered_examples(points, np.arange(len(labelled)), self.config.batch_size,
                                  random_state=None if seed is None else seed + len(labelled))
        return pool[rows - len(labelled)]

    def _score(self, r, snapshot) -> ScoredRound:
        """The round's scores, the pool's probabilities and the timings of both."""
        labelled = snapshot.labelled
        pool = self._pool_to_score(r, snapshot)
        started = time.perf_counter()
        labelled_probs, pool_probs = self._probabilities(snapshot, labelled, pool)
        predict_seconds = time.perf_counter() - started
        started = time.perf_counter()
        used = snapshot.annotators_used()  # only annotators with labels: cleanlab rejects all-NaN columns
        matrix = snapshot.matrix(labelled, used)
        rng = np.random.default_rng([self.config.random_state, r, 3])
        context = None
        if takes_keyword(self.score_fn, "context"):  # a coverage or feature-based strategy: the pool as it sees it
            context = PoolContext(pool, labelled, majority_vote(matrix)[0] if len(labelled) else np.zeros(0, int),
                                  self.config.batch_size, self.features, len(self.state.classes))
        scores_labelled, scores_pool = call_strategy(self.score_fn, matrix, labelled_probs, pool_probs, rng=rng,
                                                     context=context)
        timings = {"predict_seconds": predict_seconds, "score_seconds": time.perf_counter() - started,
                   "n_scored": len(pool)}
        if self.scorer is not None:
            timings["scoring_workers"] = self.scorer.last_info_["workers"]
        return ScoredRound(Scores(pool, scores_pool, labelled, scores_labelled), pool_probs, timings)

    def _probabilities(self, snapshot, labelled, pool) -> tuple:
        """(the labelled examples' out-of-sample probabilities, the pool's probabilities)."""
        if self.config.oos == "cross_val" and len(labelled):
            folds = self._fold_models(snapshot)
            return folds.out_of_fold, folds.predict(self.inputs.iloc[pool], predict=self._predict)
        probs = self._predict(self.learner, self.inputs.iloc[np.concatenate([labelled, pool])])
        if len(snapshot.annotators_used()) > 1:
            return self._pick_time_probs(snapshot, labelled), probs[len(labelled):]
        return probs[:len(labelled)], probs[len(labelled):]

    def _predict(self, learner, frame):
        return predict_pool(learner, frame, self.scorer)

    def _fold_models(self, snapshot) -> FoldModels:
        """K-fold models on the labels of ``snapshot`` (refitted only when the labels changed)."""
        if self.fold_models is None or self.folds_at != snapshot.watermark:
            positions = snapshot.labelled
            votes, _ = majority_vote(snapshot.matrix(positions, self._columns(snapshot)))
            if self.fold_models is not None:
                self.fold_models.close()
            self.fold_models = FoldModels.fit(
                self.learner.fold_learner(), self.inputs.iloc[positions], votes, k=self.config.folds,
                random_state=[self.config.random_state, snapshot.watermark, 13], predict=self._predict)
            self.folds_at = snapshot.watermark
            # kept for readers of the store (autoal.results.export's consensus), never read back by the run itself
            self.state.store.save_probabilities("fold", self.next_round, dict(zip(positions.tolist(),
                                                                                   self.fold_models.out_of_fold)))
        return self.fold_models

    def _pool_to_score(self, r, snapshot) -> np.ndarray:
        """Unlabelled examples nobody is asked about: all, or a seeded ``pool_subsample`` of them."""
        pool = np.flatnonzero((snapshot.counts == 0) & ~snapshot.open_examples)
        n = self.config.pool_subsample
        if n is None or n >= len(pool):
            return pool
        rng = np.random.default_rng([self.config.random_state, r, 7])
        return np.sort(rng.choice(pool, size=n, replace=False))

    def _commit_batch(self, r, pairs, scored: ScoredRound, facts) -> None:
        """Commit the assignments with the picking model's probabilities of the picked pool examples and the
        selection's facts (for the round's history row)."""
        pool = scored.scores.pool
        assigned = np.array([p for p, _ in pairs], dtype=np.int64)
        probs = {}
        if len(pool):
            rows = np.searchsorted(pool, assigned)  # the pool's positions are sorted
            in_pool = (rows < len(pool)) & (pool[np.minimum(rows, len(pool) - 1)] == assigned)
            probs = {int(p): scored.pool_probs[k] for p, k in zip(assigned[in_pool], rows[in_pool])}
        self.state.assign(r, pairs, probabilities=probs, facts=facts)
        self.oos.add_picks(np.array(list(probs), dtype=np.int64), np.array(list(probs.values())))

    # -- consensus and training --------------------------------------------------------------------

    def _columns(self, snapshot) -> list:
        """Label-matrix columns: annotators with labels (in order of their first), then the run's others."""
        used = snapshot.annotators_used()
        return used + [a for a in self.names if a not in used]

    def _pick_time_probs(self, snapshot, positions) -> np.ndarray:
        """``oos="pick"``: each example's probabilities from when it was picked; examples without any (the initial
        set) get cross-validated ones on their majority labels, computed once and stored."""
        missing = self.oos.missing(positions)
        if len(missing):
            votes, _ = majority_vote(snapshot.matrix(missing, self._columns(snapshot)))
            frame = self.inputs.iloc[missing].assign(**{self.state.label: np.asarray(self.state.classes)[votes]})
            self.oos.add_cross_validated(missing, cross_val_probs(self.learner, frame,
                                                                  random_state=self.config.random_state))
        return self.oos.get(positions)

    def _consensus(self, snapshot) -> tuple:
        """``(Consensus, positions)``: the consensus labels of the labelled examples of ``snapshot``."""
        positions = snapshot.labelled
        columns = self._columns(snapshot)
        matrix = snapshot.matrix(positions, columns)
        probs = None
        if snapshot.n_multi_labelled:
            probs = self._fold_models(snapshot).out_of_fold if self.config.oos == "cross_val" \
                else self._pick_time_probs(snapshot, positions)
        return consensus_labels(matrix, probs, columns, random_state=self.config.random_state,
                                memo=self.crowdlab_memo), positions

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
            self.last_consensus = self._consensus(snapshot.up_to(watermark))
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


def _number(value):
    """A float for JSON, None for NaN or a missing value."""
    return None if value is None or value != value else float(value)
