"""K-fold models on the labelled examples: out-of-sample probabilities for them and averaged predictions for the pool.

This is the protocol of cleanlab's ActiveLab reference loop (its multi-annotator active-learning
benchmarks): every round, K models are trained on the current consensus labels, each without one fold
of the labelled examples; a labelled example's probabilities come from the model that did not see
it, and the pool's are the average of the K models. Labelled and unlabelled examples are then scored
by the same models, on one scale.

Folds are drawn so that every fold's training set holds every class that has labels (no model misses
a class, so no probability is a structural zero): a class with at least K examples is spread over
the folds, a class with 2 to K-1 examples puts each in a different fold, and the only example of a
class is never held out (its probabilities are then the average of models that saw it: the one
in-sample case, unavoidable without leaving a class out of some model).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["fold_assignment", "FoldModels", "DEFAULT_FOLDS"]

#: Folds per round, as in the reference benchmarks (fewer when there are fewer labelled examples).
DEFAULT_FOLDS = 5


def fold_assignment(labels, k, random_state=None) -> np.ndarray:
    """The fold (0..k-1) each example is held out in, or -1 for never held out.

    Parameters
    ----------
    labels : array of int, shape (n,)
        Class index of each labelled example.
    k : int
        Number of folds (>= 2).
    random_state : int, sequence or numpy.random.Generator
        Seeds the shuffles.

    Returns
    -------
    ndarray of int, shape (n,)
        Every fold's training set (the examples not in that fold) holds every class of ``labels``.
    """
    rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    labels = np.asarray(labels, dtype=np.int64)
    folds = np.full(len(labels), -1, dtype=np.int64)
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        if len(members) < 2:
            continue  # the only example of its class stays in every training set
        if len(members) >= k:
            folds[members] = (np.arange(len(members)) + rng.integers(k)) % k
        else:
            folds[members] = rng.choice(k, size=len(members), replace=False)
    return folds


@dataclass
class FoldModels:
    """K fitted models, each trained without one fold of the labelled examples.

    Attributes
    ----------
    learners : list of Learner
        The fold models.
    folds : ndarray of int, shape (n,)
        Each labelled example's fold (-1: in every training set).
    out_of_fold : ndarray, shape (n, K)
        Each labelled example's probabilities from the model that did not train on it (the average
        of all models for examples never held out).
    """

    learners: list
    folds: np.ndarray
    out_of_fold: np.ndarray

    @classmethod
    def fit(cls, base, frame: pd.DataFrame, labels, *, k=DEFAULT_FOLDS, random_state=None, predict=None) -> "FoldModels":
        """Train clones of ``base`` on ``frame`` (features, no label column) with class indices ``labels``.

        ``k`` is lowered to the number of examples when there are fewer; ``predict(learner, frame)``
        (default ``learner.predict_proba``) computes probabilities, e.g. sharded over Ray.
        """
        predict = predict or (lambda learner, rows: learner.predict_proba(rows))
        labels = np.asarray(labels, dtype=np.int64)
        k = max(2, min(int(k), len(labels)))
        folds = fold_assignment(labels, k, random_state)
        named = np.asarray(base.classes, dtype=object)[labels]
        learners, out = [], np.zeros((len(labels), len(base.classes)))
        for fold in range(k):
            held = folds == fold
            learner = base.clone(subdir=f"folds/fold_{fold}")
            # a list, so that pandas infers one dtype (ints stay ints: scikit-learn needs a known label type)
            learner.fit(frame.iloc[np.flatnonzero(~held)].assign(**{base.label: named[~held].tolist()}))
            if held.any():
                out[held] = predict(learner, frame.iloc[np.flatnonzero(held)])
            learners.append(learner)
        never = folds < 0
        if never.any():
            out[never] = np.mean([predict(learner, frame.iloc[np.flatnonzero(never)]) for learner in learners], axis=0)
        return cls(learners, folds, out)

    def predict(self, frame: pd.DataFrame, predict=None) -> np.ndarray:
        """The fold models' average probabilities for ``frame``, shape (len(frame), K)."""
        predict = predict or (lambda learner, rows: learner.predict_proba(rows))
        if len(frame) == 0:
            return np.zeros((0, len(self.learners[0].classes)))
        return np.mean([predict(learner, frame) for learner in self.learners], axis=0)

    def close(self) -> None:
        """Release the fold models' resources."""
        for learner in self.learners:
            learner.close()
