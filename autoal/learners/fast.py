"""A fast scikit-learn learner on small image thumbnails, for tests and quick looks."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from autoal.errors import InputError
from autoal.learners.base import Learner, pad_probabilities

__all__ = ["FastLearner"]


class FastLearner(Learner):
    """Logistic regression on standardised ``thumbnail x thumbnail`` RGB pixels and the run's encoded
    numeric and categorical columns.

    Trains in well under a second on a few thousand images. It is a quick mode, not a substitute for
    the AutoGluon learner. Thumbnails are computed once per image path and kept in memory.

    Parameters
    ----------
    thumbnail : int
        Side of the square thumbnail each image is resized to.
    C : float
        Inverse regularisation strength of the logistic regression.
    """

    def __init__(self, *, thumbnail=16, C=1.0):
        self.thumbnail = thumbnail
        self.C = C
        self._thumbnails = {}  # image path -> its thumbnail's pixels
        self.model_ = None  # the fitted pipeline

    def _featurize(self, paths) -> np.ndarray:
        from PIL import Image

        from autoal.common.images import read_errors, unreadable_image

        rows = []
        for path in map(str, paths):
            if path not in self._thumbnails:
                try:
                    with Image.open(path) as image:
                        small = image.convert("RGB").resize((self.thumbnail, self.thumbnail), Image.BILINEAR)
                except read_errors() as exc:
                    raise unreadable_image(path, exc) from exc
                self._thumbnails[path] = np.asarray(small, dtype=np.float32).reshape(-1) / 255.0
            rows.append(self._thumbnails[path])
        return np.stack(rows)

    def usable_feature_columns(self, columns, *, image_col):
        """Numeric and categorical columns (text is not read). Needs an image column."""
        if image_col is None:
            raise InputError("the fast learner reads image thumbnails, and image_col=None means there are none; use "
                             "learner='tabular' (the default without images)")
        return columns.without(columns.text, "free text, which the fast learner does not read") if columns.text \
            else columns

    def _inputs(self, df: pd.DataFrame) -> np.ndarray:
        x = self._featurize(df[self.image_col])
        columns = self.encoded_feature_columns(df)
        return x if columns is None else np.hstack([x, columns])

    def fit(self, df: pd.DataFrame) -> "FastLearner":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        from autoal.learners.feature_blocks import BlockScaler

        x = self._inputs(df)
        self.model_ = make_pipeline(  # BlockScaler: StandardScaler, the feature columns weighted as much as the pixels
            BlockScaler(3 * self.thumbnail ** 2), LogisticRegression(C=self.C, max_iter=1000, random_state=self.random_state)
        )
        self.model_.fit(x, df[self.label].to_numpy())
        self.last_fit_info_ = {"n_train": len(df)}
        return self

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        probs = self.model_.predict_proba(self._inputs(df))
        return pad_probabilities(probs, self.model_.classes_.tolist(), self.classes)

    def embeddings(self, df: pd.DataFrame) -> np.ndarray:
        """The thumbnails' pixels joined with the encoded feature columns
        (:func:`autoal.learners.feature_blocks.join_blocks`), one row per example, for diversity rules."""
        from autoal.learners.feature_blocks import join_blocks

        return join_blocks(self._featurize(df[self.image_col]), self.encoded_feature_columns(df))

    def save_fitted(self, folder) -> tuple:
        """The thumbnail side and the logistic head's arrays (:class:`autoal.learners.Learner`, "Saving")."""
        from autoal.learners.saved_state import logistic_pipeline_state

        head, arrays = logistic_pipeline_state(self.model_)
        return {"thumbnail": self.thumbnail, "C": self.C, "head": head}, arrays

    @classmethod
    def load_fitted(cls, state: dict, arrays: dict, folder) -> "FastLearner":
        from autoal.learners.saved_state import logistic_pipeline_from_state

        learner = cls(thumbnail=int(state["thumbnail"]), C=state["C"])
        learner.model_ = logistic_pipeline_from_state(state["head"], arrays)
        return learner

    def worker_copy(self) -> "FastLearner":
        """A copy without the in-memory thumbnails (a worker computes those of its own rows)."""
        twin = copy.copy(self)
        twin._thumbnails = {}
        return twin
