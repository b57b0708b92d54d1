"""The embeddings learner's ``head="tabular"``: an AutoGluon ``TabularPredictor`` on embedding columns, stacked
over logistic regression's out-of-fold probabilities when there are feature columns."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from autoal.errors import MissingDependencyError

__all__ = ["TabularHead"]


class TabularHead:
    """An AutoGluon ``TabularPredictor`` on embedding columns with a scikit-learn-like face.

    With feature columns (``columns`` given to :meth:`fit`), it stacks: ``image_model`` (logistic
    regression on the embeddings) gives out-of-fold class probabilities on the training rows (its
    full fit's on new rows), and the predictor reads those K columns beside the feature columns.
    """

    def __init__(self, path, hyperparameters, time_limit, seed, image_model=None):
        self.path, self.time_limit, self.seed = Path(path), time_limit, seed
        self.hyperparameters = hyperparameters or {"LR": {}, "NN_TORCH": {}}
        self.image_model = image_model

    @staticmethod
    def _frame(x, prefix="e") -> pd.DataFrame:
        return pd.DataFrame(np.asarray(x, dtype=np.float32), columns=[f"{prefix}{k}" for k in range(x.shape[1])])

    def _table(self, x, columns, probs=None) -> pd.DataFrame:
        if columns is None:
            return self._frame(x)
        probs = self.image_model_.predict_proba(x) if probs is None else probs
        return pd.concat([self._frame(probs, prefix="__image_p"), columns.reset_index(drop=True)], axis=1)

    def _out_of_fold(self, x, y) -> np.ndarray:
        """The image model's out-of-fold probabilities (stratified folds, fewer when a class has fewer than 3
        labels; in-sample when one has a single label), in ``image_model_.classes_`` order."""
        from sklearn.base import clone
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        smallest = int(pd.Series(y).value_counts().min())
        if smallest < 2:
            return self.image_model_.predict_proba(x)
        folds = StratifiedKFold(min(3, smallest), shuffle=True, random_state=self.seed)
        return cross_val_predict(clone(self.image_model), x, y, cv=folds, method="predict_proba")

    def fit(self, x, y, columns=None) -> "TabularHead":
        try:
            from autogluon.tabular import TabularPredictor
        except ImportError as exc:
            raise MissingDependencyError(f"head='tabular' needs autogluon.tabular ({exc}); install it with "
                                         "`pip install autogluon.tabular` or use head='logistic'") from exc
        probs = None
        if columns is not None:
            self.image_model_ = self.image_model.fit(x, y)
            probs = self._out_of_fold(x, y)
        train = self._table(x, columns, probs).assign(__autoal_label__=np.asarray(y, dtype=object))
        problem = "binary" if len(set(train["__autoal_label__"])) == 2 else "multiclass"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # label_count_threshold=1: AutoGluon otherwise may ignore classes with fewer than 10 labels
            self.predictor_ = TabularPredictor(label="__autoal_label__", problem_type=problem, path=str(self.path),
                                               verbosity=0, learner_kwargs={"label_count_threshold": 1})
            self.predictor_.fit(train, hyperparameters=self.hyperparameters, time_limit=self.time_limit)
        self.classes_ = list(self.predictor_.class_labels)
        return self

    def predict_proba(self, x, columns=None) -> np.ndarray:
        probs = self.predictor_.predict_proba(self._table(x, columns), as_multiclass=True)
        return probs[self.classes_].to_numpy()
