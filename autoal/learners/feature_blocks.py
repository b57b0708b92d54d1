"""Weighting image features against the encoded feature columns joined to them.

An image learner joins a few encoded columns (:meth:`autoal.data.feature_columns.FeatureColumns.encode`) to
hundreds or thousands of image dimensions. Without a weight the columns drown: these helpers give the
column block as much weight as the image block, in a penalised model (:class:`BlockScaler`) and in the
distances of the diversity rules (:func:`join_blocks`).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import StandardScaler

__all__ = ["block_weight", "BlockScaler", "reference_statistics", "join_blocks", "equal_spread"]


def block_weight(n_image: int, n_columns: int) -> float:
    """Factor on each standardised feature column joined to ``n_image`` standardised image dimensions:
    ``sqrt(n_image / n_columns)`` (at least 1), so that under an L2 penalty the column block has the same
    prior weight as the image block; otherwise one informative column drowns among 1,280 embedding
    dimensions (measured: 0.40 holdout accuracy instead of 0.94 on noise images with one deciding column)."""
    return float(np.sqrt(max(1.0, n_image / max(1, n_columns))))


class BlockScaler(TransformerMixin, BaseEstimator):
    """Standardise every column (scikit-learn's ``StandardScaler``), then multiply the last columns, the
    encoded feature columns after ``n_image`` image dimensions, by :func:`block_weight`.

    With no feature columns it is exactly ``StandardScaler``. A scikit-learn transformer (pipeline step).

    Parameters
    ----------
    n_image : int
        Leading columns that hold image dimensions.
    reference : tuple of (mean, scale) arrays, optional
        Column means and standard deviations measured on other rows (the embeddings learner measures them on
        every example of its run): ``fit`` standardises with them instead of the training rows' own. Plain
        arrays, not a fitted scaler, so that scikit-learn's ``clone`` copies them instead of unfitting them.
    """

    def __init__(self, n_image, reference=None):
        self.n_image = n_image
        self.reference = reference

    def fit(self, x, y=None) -> "BlockScaler":
        if self.reference is None:
            self.scaler_ = StandardScaler().fit(x)
        else:
            self.scaler_ = _fixed_scaler(*self.reference, np.shape(x)[1])
        self.weight_ = block_weight(self.n_image, np.shape(x)[1] - self.n_image)
        return self

    def transform(self, x) -> np.ndarray:
        z = self.scaler_.transform(x)
        if z.shape[1] > self.n_image:
            z[:, self.n_image:] *= self.weight_
        return z


def reference_statistics(x) -> tuple:
    """``(mean, scale)`` of ``x``'s columns as ``StandardScaler`` measures them (a zero spread counts as 1), for
    :class:`BlockScaler`'s ``reference``."""
    scaler = StandardScaler().fit(x)
    return scaler.mean_, scaler.scale_


def _fixed_scaler(mean, scale, width) -> StandardScaler:
    """A ``StandardScaler`` that standardises with the given ``mean`` and ``scale`` (its fitted attributes set, so
    that ``transform`` is scikit-learn's own)."""
    mean, scale = np.asarray(mean, dtype=np.float64), np.asarray(scale, dtype=np.float64)
    if mean.shape != (width,) or scale.shape != (width,):
        raise ValueError(f"reference statistics for {mean.shape[0]} columns, rows with {width}")
    scaler = StandardScaler()
    scaler.mean_, scaler.scale_, scaler.var_ = mean, scale, scale ** 2
    scaler.n_features_in_, scaler.n_samples_seen_ = width, 0
    return scaler


def _pooled_std(block: np.ndarray) -> float:
    """The square root of the mean per-dimension variance of ``block`` (1.0 when it cannot be measured)."""
    scale = float(np.sqrt(np.mean(np.var(block, axis=0)))) if len(block) > 1 else 1.0
    return scale if scale > 0 else 1.0


def equal_spread(blocks) -> np.ndarray:
    """Several networks' embeddings side by side for distances, each block divided by its pooled standard
    deviation so that no network outweighs another by the scale of its activations (float32)."""
    return np.hstack([block / _pooled_std(block) for block in blocks]).astype(np.float32)


def join_blocks(image: np.ndarray, columns) -> np.ndarray:
    """Image features and encoded feature columns side by side for distances (k-means batches, the cold
    start): the image block divided by its pooled standard deviation (so its dimensions have unit variance
    on average), the columns weighted by :func:`block_weight`. ``columns`` None: the image block as is."""
    if columns is None or columns.shape[1] == 0:
        return image
    image = image / _pooled_std(image)
    return np.hstack([image, columns * block_weight(image.shape[1], columns.shape[1])]).astype(np.float32)
