"""The labelled examples' out-of-sample probabilities and their consensus, where a run's rounds get both.

cleanlab's consensus (CROWDLAB) and ActiveLab need, for every labelled example, probabilities from a model
that did not train on it. A run's ``oos`` option says where they come from:

- ``"cross_val"``: K fold models on the current majority labels (:class:`~autoal.multiannotator.fold_models.FoldModels`),
  refitted when the labels change; their averaged predictions also score the pool.
- ``"pick"``: each example's probabilities from when it was picked, kept in the store with its assignment
  (:class:`~autoal.multiannotator.out_of_sample.OutOfSampleProbs`); examples never picked (the initial set) get
  cross-validated ones, computed once. The pool is scored by the run's learner.

What this object stores is said where it happens: fold models' probabilities as ``"fold"`` rows (for readers of
the store; the run never reads them back) and cross-validated ones as ``"cv"`` rows.
"""

from __future__ import annotations

import numpy as np

from autoal.multiannotator.consensus import consensus_labels, majority_vote
from autoal.multiannotator.crowdlab import CrowdlabMemo
from autoal.multiannotator.fold_models import FoldModels
from autoal.multiannotator.out_of_sample import OutOfSampleProbs, cross_val_probs

__all__ = ["RoundConsensus"]


class RoundConsensus:
    """Out-of-sample probabilities of a run's labelled examples, and their consensus labels.

    Parameters
    ----------
    store : RunStore
        Where pick-time and cross-validated probabilities are kept.
    inputs : DataFrame
        The run's examples without labels, in position order.
    classes : list
        The run's classes (a consensus label is an index into it).
    label : str
        The label column learners train on.
    names : list of str
        The run's annotators, in order (the list itself: annotators who join later are seen).
    oos : {"cross_val", "pick"}
        Where the labelled examples' probabilities come from (the module's docstring).
    folds, random_state :
        The fold models' count and seed.
    predict : callable
        ``predict(learner, frame) -> probabilities``: how a model scores many examples (on Ray for a large pool).
    """

    def __init__(self, store, inputs, classes, label, names, *, oos, folds, random_state, predict):
        self.store, self.inputs, self.classes, self.label, self.names = store, inputs, classes, label, names
        self.oos, self.folds, self.random_state, self.predict = oos, folds, random_state, predict
        self.memo = CrowdlabMemo()  # shared by the consensus and ActiveLab: CROWDLAB once per label set
        self.pick_time = OutOfSampleProbs(store, len(inputs), len(classes))
        self.fold_models: FoldModels | None = None
        self.folds_at = None  # the watermark of the labels the fold models were fitted on

    def columns(self, snapshot) -> list:
        """Label-matrix columns: annotators with labels (in order of their first), then the run's others."""
        used = snapshot.annotators_used()
        return used + [a for a in self.names if a not in used]

    def for_scoring(self, snapshot, learner, pool, round) -> tuple:
        """``(labelled probabilities, pool probabilities)`` for a round's strategy scores.

        ``"cross_val"`` fits the fold models on ``snapshot``'s labels when they changed (their probabilities saved
        as ``round``'s ``"fold"`` rows); ``"pick"`` with several annotators' labels reads pick-time probabilities
        (cross-validating, once, examples that have none); with one annotator the learner's own predictions.
        """
        labelled = snapshot.labelled
        if self.oos == "cross_val" and len(labelled):
            folds = self._fold_models(snapshot, learner, round)
            return folds.out_of_fold, folds.predict(self.inputs.iloc[pool], predict=self.predict)
        probs = self.predict(learner, self.inputs.iloc[np.concatenate([labelled, pool])])
        if len(snapshot.annotators_used()) > 1:
            return self._pick_time_probs(snapshot, learner, labelled), probs[len(labelled):]
        return probs[:len(labelled)], probs[len(labelled):]

    def consensus(self, snapshot, learner, round) -> tuple:
        """``(Consensus, positions)``: the consensus labels of ``snapshot``'s labelled examples.

        With one label per example it is that label; examples with several get CROWDLAB on the out-of-sample
        probabilities, which may fit fold models or cross-validate as :meth:`for_scoring` says.
        """
        positions = snapshot.labelled
        columns = self.columns(snapshot)
        probs = None
        if snapshot.n_multi_labelled:
            probs = self._fold_models(snapshot, learner, round).out_of_fold if self.oos == "cross_val" \
                else self._pick_time_probs(snapshot, learner, positions)
        return consensus_labels(snapshot.matrix(positions, columns), probs, columns, random_state=self.random_state,
                                memo=self.memo), positions

    def add_picks(self, positions, probs) -> None:
        """Keep the picking model's probabilities of examples just assigned (saved in the store with them)."""
        self.pick_time.add_picks(positions, probs)

    def close(self) -> None:
        """Close the fold models (their folders' files); the next round that needs them fits new ones."""
        if self.fold_models is not None:
            self.fold_models.close()
        self.fold_models, self.folds_at = None, None

    def _fold_models(self, snapshot, learner, round) -> FoldModels:
        """K-fold models on the labels of ``snapshot`` (refitted only when the labels changed)."""
        if self.fold_models is None or self.folds_at != snapshot.watermark:
            positions = snapshot.labelled
            votes, _ = majority_vote(snapshot.matrix(positions, self.columns(snapshot)))
            self.close()
            self.fold_models = FoldModels.fit(
                learner.fold_learner(), self.inputs.iloc[positions], votes, k=self.folds,
                random_state=[self.random_state, snapshot.watermark, 13], predict=self.predict)
            self.folds_at = snapshot.watermark
            # kept for readers of the store (autoal.results.export's consensus), never read back by the run itself
            self.store.save_probabilities("fold", round, dict(zip(positions.tolist(), self.fold_models.out_of_fold)))
        return self.fold_models

    def _pick_time_probs(self, snapshot, learner, positions) -> np.ndarray:
        """Each example's probabilities from when it was picked; examples without any (the initial set) get
        cross-validated ones on their majority labels, computed once and stored."""
        missing = self.pick_time.missing(positions)
        if len(missing):
            votes, _ = majority_vote(snapshot.matrix(missing, self.columns(snapshot)))
            frame = self.inputs.iloc[missing].assign(**{self.label: np.asarray(self.classes)[votes]})
            self.pick_time.add_cross_validated(missing, cross_val_probs(learner, frame, random_state=self.random_state))
        return self.pick_time.get(positions)
