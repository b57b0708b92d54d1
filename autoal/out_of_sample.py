"""Out-of-sample predicted probabilities for labelled examples, which cleanlab's consensus needs.

autoal's scheme (documented in the README): an example picked from the pool keeps the probabilities
the model predicted for it when it was picked, before any model trained on it. Examples labelled
before round 1 have no such prediction; they get k-fold cross-validated probabilities from clones of
the run's learner, computed once when first needed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["cross_val_probs"]


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
