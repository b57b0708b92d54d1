"""Seeded k-means cluster labels, the one k-means set-up of the diversity rules (k-means batches, the cold start)."""

from __future__ import annotations

import warnings

import numpy as np

from autoal.common.threads import one_blas_thread

__all__ = ["kmeans_labels"]


def kmeans_labels(features, n_clusters, random_state) -> np.ndarray:
    """Cluster label of each row of ``features`` (n, d) by scikit-learn's k-means (one seeded init); clusters may
    collapse when there are fewer distinct points than clusters."""
    from sklearn.cluster import KMeans

    with warnings.catch_warnings(), one_blas_thread():
        warnings.simplefilter("ignore")  # ConvergenceWarning when fewer distinct points than clusters
        return KMeans(n_clusters=n_clusters, n_init=1, random_state=random_state).fit_predict(features)
