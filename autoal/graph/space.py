"""The space the pool graph is built in: standardised, PCA-whitened, unit-length vectors.

Standardising gives every embedding dimension the same weight; whitening the leading principal components
gives each direction of variation the same weight and drops the noisy tail; unit length makes Euclidean
distance a monotone function of cosine similarity. The transform is kept as plain arrays, so a saved graph
loads without running code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autoal.common.sampling import seeded_sample
from autoal.common.threads import one_blas_thread

__all__ = ["WhitenedSpace", "FIT_SAMPLE"]

#: The whitening is fitted on at most this many vectors (a seeded sample of bigger pools).
FIT_SAMPLE = 20_000
#: Vectors transformed at a time.
TRANSFORM_CHUNK = 50_000


@dataclass(frozen=True)
class WhitenedSpace:
    """``x -> unit((standardise(x) - centre) @ projection)``.

    Attributes
    ----------
    mean, scale : ndarray, shape (d,)
        Per-dimension standardisation of the input vectors.
    centre : ndarray, shape (d,)
        The mean of the standardised vectors (PCA's centring).
    projection : ndarray, shape (d, dims)
        The leading principal directions, each divided by the square root of its variance (whitening).
    """

    mean: np.ndarray
    scale: np.ndarray
    centre: np.ndarray
    projection: np.ndarray

    @classmethod
    def fit(cls, vectors, dims: int, *, random_state=0) -> "WhitenedSpace":
        """Fit the transform on ``vectors`` (n, d) (a seeded sample of :data:`FIT_SAMPLE` of bigger sets), keeping
        ``min(dims, n - 1, d)`` whitened directions (scikit-learn's PCA)."""
        from sklearn.decomposition import PCA

        vectors = np.asarray(vectors, dtype=np.float64)
        sample = vectors[seeded_sample(len(vectors), FIT_SAMPLE, random_state=[random_state, 23])]
        mean, scale = sample.mean(axis=0), sample.std(axis=0)
        scale = np.where(scale > 1e-12, scale, 1.0)
        dims = max(1, min(int(dims), len(sample) - 1, vectors.shape[1]))
        with one_blas_thread():
            pca = PCA(n_components=dims, whiten=True, random_state=random_state).fit((sample - mean) / scale)
        variance = np.maximum(pca.explained_variance_, 1e-12)
        return cls(mean, scale, pca.mean_, (pca.components_ / np.sqrt(variance)[:, None]).T)

    @property
    def dims(self) -> int:
        """Length of a transformed vector."""
        return self.projection.shape[1]

    def transform(self, vectors) -> np.ndarray:
        """``vectors`` (n, d) in this space: float32, shape (n, dims), unit rows (a zero row stays zero)."""
        vectors = np.asarray(vectors)
        out = np.empty((len(vectors), self.dims), dtype=np.float32)
        for start in range(0, len(vectors), TRANSFORM_CHUNK):  # in chunks: a float64 copy of 1M rows is GBs
            chunk = np.asarray(vectors[start:start + TRANSFORM_CHUNK], dtype=np.float64)
            z = ((chunk - self.mean) / self.scale - self.centre) @ self.projection
            norms = np.linalg.norm(z, axis=1, keepdims=True)
            out[start:start + len(z)] = z / np.where(norms > 0, norms, 1.0)
        return out

    def to_arrays(self, prefix="space_") -> dict:
        """The transform as named arrays (for ``numpy.savez``)."""
        return {prefix + name: getattr(self, name) for name in ("mean", "scale", "centre", "projection")}

    @classmethod
    def from_arrays(cls, arrays, prefix="space_") -> "WhitenedSpace":
        """The transform :meth:`to_arrays` wrote."""
        return cls(*(np.asarray(arrays[prefix + name], dtype=np.float64)
                     for name in ("mean", "scale", "centre", "projection")))
