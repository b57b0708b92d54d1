"""Picking a round's batch: the initial set of round 0, the strategy's scores, the batch rule, the assignments.

:class:`BatchPicker` is the "start" step of a round (:meth:`autoal.rounds.session.Session.advance`): it reads a
snapshot of the run state, decides who is asked about which example, and commits the assignments with the facts of
the selection (timings, rule, relabel share) and the picking model's probabilities of the picked examples.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from autoal.annotation.assignment import assign_batch
from autoal.errors import PoolExhausted
from autoal.query.cold_start import COVERAGE_LABELS_PER_CLASS, candidate_sample, coverage_examples, typical_examples
from autoal.query.herding import herded_examples
from autoal.multiannotator.consensus import majority_vote
from autoal.query.context import PoolContext
from autoal.query.selection import Scores, select_batch
from autoal.query.strategies import call_strategy, get_strategy, takes_keyword

__all__ = ["BatchPicker", "ScoredRound"]


@dataclass(frozen=True)
class ScoredRound:
    """What scoring a round gives the selection: the scores, the pool's probabilities (stored with the picks as
    pick-time probabilities) and the timings for the round's record."""

    scores: Scores
    pool_probs: np.ndarray
    timings: dict


class BatchPicker:
    """Picks and assigns a run's batches.

    Parameters
    ----------
    state : RunState
        The run's store and examples.
    config : RunConfig
        The run's options, resolved.
    annotators : list of Annotator
        The run's team (the list itself: annotators who join later are seen); ``names`` their names.
    embeddings : EmbeddingSource
        The diversity and coverage features of the pool's examples.
    round_consensus : RoundConsensus
        Where the labelled examples' out-of-sample probabilities and the pool's come from.
    scorer : PoolScorer or None
        Ray workers predicting a large pool (for the round's facts).
    """

    def __init__(self, state, config, annotators, names, embeddings, round_consensus, scorer):
        self.state, self.config, self.annotators, self.names = state, config, annotators, names
        self.embeddings, self.round_consensus, self.scorer = embeddings, round_consensus, scorer
        self.score_fn = get_strategy(config.strategy, random_state=config.random_state, memo=round_consensus.memo)

    def deal(self, r, snapshot, learner, facts) -> None:
        """Select round ``r``'s batch (``r`` >= 1) with ``learner`` trained on the labels so far and commit its
        assignments with ``facts`` added to the selection's.

        Raises
        ------
        PoolExhausted
            When nothing is left to pick; its message is the run's stop reason.
        """
        scored = self._score(r, snapshot, learner)
        started = time.perf_counter()
        seed, config = self.config.random_state, self.config
        rule = self.batch_rule(snapshot)
        if rule == "coverage":
            picked, policy_facts = self._uncovered_batch(snapshot, scored.scores.pool), {}
        else:
            picked, policy_facts = select_batch(
                scored.scores, snapshot, self.names, config.batch_size, rule=rule, policy=config.relabel,
                embeddings_of=self.embeddings, candidates_factor=config.candidates_factor,
                random_state=np.random.default_rng([seed, r]), policy_random_state=[seed, r, 5])
        pairs = assign_batch(picked, snapshot, self.names)
        if not pairs:
            raise PoolExhausted(waiting=int(snapshot.open_examples.sum()),
                                relabeling=self.config.relabel is not None and len(self.names) > 1)
        relabels = int((snapshot.counts[[p for p, _ in pairs]] > 0).sum())
        facts = dict(scored.timings, **policy_facts, select_seconds=time.perf_counter() - started,
                     batch_rule=rule, oos=config.oos, relabel_share=relabels / len(pairs), **facts)
        self._commit_batch(r, pairs, scored, facts)
        if len(pairs) < config.batch_size and config.verbose:
            print(f"  batch_size {config.batch_size} > {len(pairs)} examples left to label: taking all of them")

    def batch_rule(self, snapshot) -> str:
        """The round's batch rule: the run's, with ``"coverage-first"`` read as ``"coverage"`` while labels are few
        (fewer than :data:`~autoal.query.cold_start.COVERAGE_LABELS_PER_CLASS` per class) and ``"kmeans"`` after."""
        rule = self.config.batch
        if rule == "coverage-first":
            few = len(snapshot.labelled) < COVERAGE_LABELS_PER_CLASS * len(self.state.classes)
            rule = "coverage" if few else "kmeans"
        return rule

    def deal_initial(self, snapshot) -> bool:
        """Round 0: assign the initial set (simulation's hidden-label sample, or the cold start's pick); True when
        it assigned any (a real run that starts from its given labels assigns none)."""
        data = self.state.data
        picked = self.config.initial in ("kmeans", "coverage")
        if not data.simulation and not picked:
            return False  # real mode: the given labels, stored with the run, are round 0
        started = time.perf_counter()  # the cold start embeds the whole pool: round 0's select_seconds count it
        positions = self._picked_initial_set(snapshot) if picked else self.state.positions(data.initial_ids)
        # those who answer at once take the initial set; with none (files, the labelling page) round 0 waits for them
        asking = [a.name for a in self.annotators if not a.answers_later] or self.names
        self.state.assign(0, [(int(p), asking[k % len(asking)]) for k, p in enumerate(positions)],
                          facts={"select_seconds": time.perf_counter() - started})
        return bool(len(positions))

    def _picked_initial_set(self, snapshot) -> np.ndarray:
        """Cold start (:mod:`autoal.query.cold_start`): of k k-means clusters, each one's most typical unlabelled
        example (``initial="kmeans"``) or its central one in the learner's graph space (``"coverage"``)."""
        pool = np.flatnonzero(snapshot.counts == 0)
        seed = self.config.random_state
        pool = pool[candidate_sample(len(pool), random_state=[seed, 17])]
        k = len(self.state.data.initial_ids) if self.state.data.simulation else self.config.batch_size
        if self.config.initial == "coverage":
            return pool[coverage_examples(self.embeddings.coverage(pool), k, random_state=seed)]
        return pool[typical_examples(self.embeddings(pool), k, random_state=seed)]

    def _uncovered_batch(self, snapshot, pool) -> np.ndarray:
        """``batch="coverage-first"`` while labels are few: of the pool examples some annotator can be asked about,
        those that add most to how well the labelled examples cover the pool (kernel herding in the learner's graph
        space, :func:`autoal.query.herding.herded_examples`)."""
        pool = np.asarray(pool, dtype=np.int64)
        pool = pool[snapshot.askable(pool, self.names) > 0]
        seed = self.config.random_state
        pool = pool[candidate_sample(len(pool), random_state=[seed, 19])]
        labelled = np.asarray(snapshot.labelled, dtype=np.int64)
        points = self.embeddings.coverage(np.concatenate([labelled, pool]))
        rows = herded_examples(points, np.arange(len(labelled)), self.config.batch_size,
                               random_state=None if seed is None else [seed, len(labelled)])
        return pool[rows - len(labelled)]

    def _score(self, r, snapshot, learner) -> ScoredRound:
        """The round's scores, the pool's probabilities and the timings of both."""
        labelled = snapshot.labelled
        pool = self._pool_to_score(r, snapshot)
        started = time.perf_counter()
        labelled_probs, pool_probs = self.round_consensus.for_scoring(snapshot, learner, pool, r)
        predict_seconds = time.perf_counter() - started
        started = time.perf_counter()
        used = snapshot.annotators_used()  # only annotators with labels: cleanlab rejects all-NaN columns
        matrix = snapshot.matrix(labelled, used)
        rng = np.random.default_rng([self.config.random_state, r, 3])
        context = None
        if takes_keyword(self.score_fn, "context"):  # a coverage or feature-based strategy: the pool as it sees it
            context = PoolContext(pool, labelled, majority_vote(matrix)[0] if len(labelled) else np.zeros(0, int),
                                  self.config.batch_size, self.embeddings, len(self.state.classes))
        scores_labelled, scores_pool = call_strategy(self.score_fn, matrix, labelled_probs, pool_probs, rng=rng,
                                                     context=context)
        timings = {"predict_seconds": predict_seconds, "score_seconds": time.perf_counter() - started,
                   "n_scored": len(pool)}
        if self.scorer is not None:
            timings["scoring_workers"] = self.scorer.last_info_["workers"]
        return ScoredRound(Scores(pool, scores_pool, labelled, scores_labelled), pool_probs, timings)

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
        self.round_consensus.add_picks(np.array(list(probs), dtype=np.int64), np.array(list(probs.values())))
