"""Where the diversity rules (k-means batches, the cold start) get each example's embedding.

The learner's own embeddings when it makes them (:attr:`autoal.learners.Learner.embeddings`: the embeddings learner's
vectors, the fast learner's thumbnails, the tabular learner's encoded columns), else the packaged pretrained
MobileNetV2's, embedded once and cached (joined with the run's encoded feature columns), or, for a run without
images, its encoded feature columns alone. The query layer receives only what this gives: arrays, and the
:class:`EmbeddingSource` as a callable of positions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from autoal.learners.embeddings import EmbeddingLearner

__all__ = ["EmbeddingSource", "embeddings_available", "learns_from_pool", "embedding_cache"]


def embeddings_available(learner) -> bool:
    """Whether a configured ``learner``'s run can have embeddings: from the learner, from the installed pretrained
    backbone, or (no images) from the encoded feature columns."""
    if learner.embeddings is not None:
        return True
    if learner.image_col is None:
        columns = learner.feature_columns
        return columns is not None and columns.encoded_width > 0
    from autoal.vision.backbones import pretrained_available

    return pretrained_available()


def learns_from_pool(learner) -> bool:
    """Whether ``learner`` learns from the unlabelled examples through the pool graph
    (:attr:`EmbeddingLearner.learns_from_pool <autoal.learners.EmbeddingLearner.learns_from_pool>`): then the
    coverage picks measure distance in that graph's space (:meth:`EmbeddingSource.coverage`)."""
    return isinstance(learner, EmbeddingLearner) and learner.learns_from_pool


def embedding_cache(learner, image_col) -> str | None:
    """The folder of the embedding caches a run reads and writes (recorded with it): the embeddings learner's
    (:meth:`~autoal.learners.EmbeddingLearner.cache_root`), else the shared default the diversity embeddings use;
    None for a table (``image_col`` None)."""
    from autoal.vision.embedder import default_embedding_dir

    if image_col is None:
        return None
    return str(learner.cache_root() if isinstance(learner, EmbeddingLearner) else default_embedding_dir())


class EmbeddingSource:
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

    def _backbone(self) -> EmbeddingLearner:
        if self._fallback is None:
            from autoal.vision.image_size import DIVERSITY_FEATURE_SIDE

            # one side whatever the images: the size these diversity embeddings always had, so that resumed runs
            # and the fold models' stand-in (autoal.learners.autogluon) embed alike and share one cache.
            self._fallback = EmbeddingLearner(image_size=DIVERSITY_FEATURE_SIDE).configure(
                classes=self.learner.classes, label=self.learner.label, image_col=self.learner.image_col,
                output_dir=self.learner.output_dir, random_state=self.learner.random_state,
                feature_columns=self.learner.feature_columns)
        return self._fallback

    def coverage(self, positions) -> np.ndarray:
        """The examples at ``positions`` in the space the learner links the pool in
        (:meth:`autoal.learners.EmbeddingLearner.coverage_space`), else their embeddings (:meth:`__call__`)."""
        frame = self.inputs.iloc[np.asarray(positions, dtype=np.int64)]
        points = self.learner.coverage_space(frame) if learns_from_pool(self.learner) else None
        return self(positions) if points is None else np.asarray(points, dtype=np.float32)

    def __call__(self, positions) -> np.ndarray:
        """Embeddings of the examples at ``positions``: float32, shape (len(positions), d)."""
        frame = self.inputs.iloc[np.asarray(positions, dtype=np.int64)]
        if self.learner.embeddings is not None:
            vectors = self.learner.embeddings(frame)
        elif self.learner.image_col is None:
            vectors = self.learner.feature_columns.encode(frame)
        else:
            vectors = self._backbone().embeddings(frame)
        return np.asarray(vectors, dtype=np.float32)
