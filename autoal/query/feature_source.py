"""Where the diversity rules (k-means batches, the cold start) get each example's embedding.

The learner's own features when it provides them (:attr:`autoal.learners.Learner.provides_features`:
the embeddings learner's vectors, the fast learner's thumbnails, the tabular learner's encoded
columns), else the packaged pretrained MobileNetV2's, embedded once and cached in the run folder
(joined with the run's encoded feature columns), or, for a run without images, its encoded feature
columns alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["FeatureSource", "embeddings_available"]


def embeddings_available(learner) -> bool:
    """Whether a configured ``learner``'s run can have embeddings: from the learner, from the installed pretrained
    backbone, or (no images) from the encoded feature columns."""
    if learner.provides_features:
        return True
    if learner.image_col is None:
        columns = learner.feature_columns
        return columns is not None and columns.encoded_width > 0
    from autoal.vision.backbones import pretrained_available

    return pretrained_available()


class FeatureSource:
    """Embeddings of a run's pool examples by position.

    Parameters
    ----------
    learner : Learner
        The run's learner (configured).
    inputs : DataFrame
        The pool's rows as learners see them (no label column), in position order.
    """

    def __init__(self, learner, inputs: pd.DataFrame):
        self.learner, self.inputs = learner, inputs
        self._fallback = None

    @property
    def available(self) -> bool:
        """Whether embeddings can be had (:func:`embeddings_available`)."""
        return embeddings_available(self.learner)

    def _backbone(self):
        if self._fallback is None:
            from autoal.learners import EmbeddingLearner
            from autoal.vision.image_size import DIVERSITY_FEATURE_SIDE

            # one side whatever the images: the size these diversity features always had, so that resumed runs
            # and the fold models' stand-in (autoal.learners.autogluon) embed alike and share one cache.
            self._fallback = EmbeddingLearner(image_size=DIVERSITY_FEATURE_SIDE).configure(
                classes=self.learner.classes, label=self.learner.label, image_col=self.learner.image_col,
                output_dir=self.learner.output_dir, random_state=self.learner.random_state,
                feature_columns=self.learner.feature_columns)
        return self._fallback

    def coverage(self, positions) -> np.ndarray:
        """The examples at ``positions`` in the space the learner links the pool in
        (:meth:`autoal.learners.Learner.coverage_space`), else their embeddings (:meth:`__call__`)."""
        frame = self.inputs.iloc[np.asarray(positions, dtype=np.int64)]
        points = self.learner.coverage_space(frame) if getattr(self.learner, "learns_from_pool", False) else None
        return self(positions) if points is None else np.asarray(points, dtype=np.float32)

    def __call__(self, positions) -> np.ndarray:
        """Embeddings of the examples at ``positions``: float32, shape (len(positions), d)."""
        frame = self.inputs.iloc[np.asarray(positions, dtype=np.int64)]
        features = self.learner.features(frame) if self.learner.provides_features else None
        if features is None and self.learner.image_col is None:
            features = self.learner.feature_columns.encode(frame)
        elif features is None:
            features = self._backbone().features(frame)
        return np.asarray(features, dtype=np.float32)
