"""Out-of-sample predicted probabilities for labelled examples, which cleanlab's consensus and ActiveLab need.

autoal's scheme (documented in the README): an example picked from the pool keeps the probabilities
the model predicted for it when it was picked, before any model trained on it ("pick" probabilities,
written in the same transaction as the assignment). Examples labelled before round 1 have no such
prediction; they get k-fold cross-validated probabilities from clones of the run's learner, computed
once when first needed ("cv"). Both kinds live in the run store, so a resumed run refits nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["cross_val_probs", "OutOfSampleProbs"]


def cross_val_probs(learner, train: pd.DataFrame, *, folds=3, random_state=0) -> np.ndarray:
    """k-fold out-of-fold probabilities, shape (len(train), len(learner.classes)).

    Uses stratified folds where every class has at least ``folds`` examples, fewer folds when a class
    has fewer (scikit-learn refuses otherwise), plain shuffled folds when some class has a single
    example, and uniform probabilities when there are fewer than 2 examples.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    n, k = len(train), len(learner.classes)
    if n < 2:
        return np.full((n, k), 1.0 / k)
    labels = train[learner.label].astype(str).to_numpy()
    smallest = pd.Series(labels).value_counts().min()
    if smallest >= 2:
        splitter = StratifiedKFold(min(folds, smallest), shuffle=True, random_state=random_state)
    else:
        splitter = KFold(min(folds, n), shuffle=True, random_state=random_state)
    out = np.zeros((n, k))
    for fold, (fit_rows, held_rows) in enumerate(splitter.split(np.zeros(n), labels)):
        clone = learner.clone(subdir=f"cross_val/fold_{fold}")
        clone.fit(train.iloc[fit_rows])
        out[held_rows] = clone.predict_proba(train.iloc[held_rows].drop(columns=[learner.label]))
        clone.close()
    return out


class OutOfSampleProbs:
    """The run's out-of-sample probabilities by example position, loaded from and saved to its store.

    Parameters
    ----------
    store : RunStore
        Where the probabilities are kept.
    n_examples, n_classes : int
        Pool size and class count.
    """

    KINDS = ("pick", "cv")

    def __init__(self, store, n_examples: int, n_classes: int):
        self.store, self.n_classes = store, n_classes
        self._row = {kind: np.full(n_examples, -1, dtype=np.int64) for kind in self.KINDS}
        self._probs = {}
        for kind in self.KINDS:
            examples, probs = store.probabilities(kind, n_classes)
            self._row[kind][examples] = np.arange(len(examples))
            self._probs[kind] = probs

    def has(self, positions) -> np.ndarray:
        """Mask over ``positions``: True where probabilities are known."""
        positions = np.asarray(positions, dtype=np.int64)
        return (self._row["pick"][positions] >= 0) | (self._row["cv"][positions] >= 0)

    def _add(self, kind, positions, probs) -> None:
        start = len(self._probs[kind])
        self._probs[kind] = np.concatenate([self._probs[kind], np.asarray(probs, dtype=np.float64).reshape(-1, self.n_classes)])
        self._row[kind][np.asarray(positions, dtype=np.int64)] = np.arange(start, start + len(positions))

    def add_picks(self, positions, probs) -> None:
        """Keep the picking model's probabilities of examples just assigned (the caller saved them in the
        store with the assignment)."""
        positions = np.asarray(positions, dtype=np.int64)
        if len(positions):
            self._add("pick", positions, probs)

    def missing(self, positions) -> np.ndarray:
        """The positions among ``positions`` that have no probabilities yet (they need cross-validated ones)."""
        positions = np.asarray(positions, dtype=np.int64)
        return positions[~self.has(positions)]

    def add_cross_validated(self, positions, probs) -> None:
        """Keep and save in the store cross-validated probabilities (m, K) of the examples at ``positions``."""
        positions = np.asarray(positions, dtype=np.int64)
        if len(positions):
            self.store.save_probabilities("cv", 0, dict(zip(positions.tolist(), probs)))
            self._add("cv", positions, probs)

    def get(self, positions) -> np.ndarray:
        """Probabilities of the examples at ``positions``, shape (n, n_classes): pick-time ones where the example
        has them, else cross-validated ones (:meth:`add_cross_validated` first for :meth:`missing` ones)."""
        positions = np.asarray(positions, dtype=np.int64)
        left = self.missing(positions)
        if len(left):
            raise KeyError(f"no out-of-sample probabilities for {len(left)} examples (first: {left[:5].tolist()}); "
                           "add_cross_validated them first")
        out = np.empty((len(positions), self.n_classes))
        pick = self._row["pick"][positions]
        has_pick = pick >= 0
        out[has_pick] = self._probs["pick"][pick[has_pick]]
        out[~has_pick] = self._probs["cv"][self._row["cv"][positions[~has_pick]]]
        return out
