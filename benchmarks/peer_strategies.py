"""scikit-activeml's pool strategies as autoal strategies, so that a comparison runs its peers beside autoal's own.

``skactiveml:typiclust``, ``skactiveml:probcover``, ``skactiveml:maxherding``, ``skactiveml:dropquery`` and
``skactiveml:badge`` (:data:`PEERS`) each wrap the scikit-activeml 1.0.1 query strategy of that name
(``skactiveml.pool``). Each round the strategy receives autoal's :class:`~autoal.query.context.PoolContext` and
hands scikit-activeml what it expects:

- ``X``: the run's feature vectors (the embeddings learner's cached embeddings), labelled examples first, then the
  scored pool, each row scaled to unit length: the coverage papers (TypiClust, ProbCover, MaxHerding) work on
  unit-length self-supervised embeddings, and ProbCover's default radii (0.2 to 2.0) only mean something there.
  One representation for all five peers;
- ``y``: the labelled examples' labels (class indices), NaN for the pool (scikit-activeml's missing label);
- ``random_state``: an integer drawn from the round's generator that autoal passes (seeded by the run's seed and
  the round): the same seed gives the same picks, and a resumed run picks what the uninterrupted one would have;
- ``batch_size``: the round's batch.

It returns scores that make autoal's ``topk`` batch rule take exactly scikit-activeml's picks: each picked
example's rank in scikit-activeml's order (0, 1, ...) and ``len(pool)`` for every other example (lower = ask first).

DropQuery and BADGE need a classifier (DropQuery's dropout predictions, BADGE's gradient embeddings): they get
scikit-activeml's :class:`~skactiveml.classifier.SklearnClassifier` around scikit-learn's logistic regression on
standardised features, fitted on the labelled rows (:func:`proxy_classifier`). That proxy only selects; autoal's
own learner is what every configuration of the comparison trains and evaluates.

scikit-activeml is a benchmark and test dependency (``pip install -e ".[benchmarks]"``), never imported by
``import autoal``; this module imports it only when a peer strategy is called.
"""

from __future__ import annotations

import numpy as np

from autoal.common.threads import one_blas_thread
from autoal.errors import InputError

__all__ = ["PREFIX", "PEERS", "peer_names", "is_peer", "make_peer", "PeerStrategy", "peer_data", "picked_scores",
           "proxy_classifier"]

#: What a peer's name starts with in ``--strategies``.
PREFIX = "skactiveml:"


def _typiclust(random_state, n_classes):
    from skactiveml.pool import TypiClust

    return TypiClust(random_state=random_state)


def _probcover(random_state, n_classes):
    from skactiveml.pool import ProbCover

    # n_classes: the k-means that sets ProbCover's radius clusters into the run's classes, not the labelled ones
    return ProbCover(n_classes=max(n_classes, 2), random_state=random_state)


def _maxherding(random_state, n_classes):
    from skactiveml.pool import MaxHerding

    return MaxHerding(random_state=random_state)


def _dropquery(random_state, n_classes):
    from skactiveml.pool import DropQuery

    # DropQuery's k-means gets no seed from random_state unless given one (scikit-activeml 1.0.1): seeded here,
    # as TypiClust and ProbCover seed theirs, so that the same seed gives the same picks
    return DropQuery(random_state=random_state, cluster_algo_dict={"random_state": random_state})


def _badge(random_state, n_classes):
    from skactiveml.pool import Badge

    return Badge(random_state=random_state)


#: Peer name -> (factory of the scikit-activeml query strategy, whether its query takes a classifier).
PEERS = {
    "typiclust": (_typiclust, False),
    "probcover": (_probcover, False),
    "maxherding": (_maxherding, False),
    "dropquery": (_dropquery, True),
    "badge": (_badge, True),
}


def peer_names() -> list:
    """Every peer's full name, e.g. ``skactiveml:typiclust``."""
    return [PREFIX + name for name in PEERS]


def is_peer(name) -> bool:
    """Whether ``name`` asks for a peer strategy (starts with :data:`PREFIX`), valid or not."""
    return isinstance(name, str) and name.startswith(PREFIX)


def make_peer(name) -> "PeerStrategy":
    """The strategy for a full peer name (``skactiveml:badge``).

    Raises
    ------
    InputError
        For a name that is not one of :func:`peer_names`, listing them.
    """
    method = name[len(PREFIX):] if is_peer(name) else name
    if not is_peer(name) or method not in PEERS:
        raise InputError(f"unknown peer strategy {name!r}; choose one of {', '.join(peer_names())}")
    return PeerStrategy(method)


def proxy_classifier(n_classes, random_state):
    """scikit-activeml's wrapper around a standardised logistic regression over the ``n_classes`` class indices.

    DropQuery and BADGE select with it; it is fitted on the labelled rows of the ``X`` they get. Selection uses
    this proxy while autoal's own learner is what the run trains and evaluates.
    """
    from skactiveml.classifier import SklearnClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=random_state))
    return SklearnClassifier(model, classes=np.arange(n_classes), missing_label=np.nan, random_state=random_state)


def peer_data(context) -> tuple:
    """scikit-activeml's ``(X, y)`` for a round: labelled rows then pool rows, unit-length float64 features (scikit-
    learn's k-means++ and distances upcast float32 in chunks, 1.7x slower here); labels as floats, NaN for the pool."""
    positions = np.concatenate([np.asarray(context.labelled, dtype=np.int64), np.asarray(context.pool, dtype=np.int64)])
    x = np.asarray(context.embeddings_of(positions), dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(norms > 0, norms, 1.0)
    y = np.concatenate([np.asarray(context.labels, dtype=float), np.full(len(context.pool), np.nan)])
    return x, y


def picked_scores(rows, n_pool) -> np.ndarray:
    """Scores over a pool of ``n_pool`` for which ``topk`` takes exactly ``rows`` (in that order): each picked row's
    rank, ``n_pool`` for the rest.

    Raises
    ------
    ValueError
        When a row is outside the pool or picked twice (the peer picked something it should not have).
    """
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) and (rows.min() < 0 or rows.max() >= n_pool or len(np.unique(rows)) < len(rows)):
        raise ValueError(f"a peer strategy picked rows {rows.tolist()} of a pool of {n_pool}: each must be a distinct "
                         "pool row")
    scores = np.full(n_pool, float(n_pool))
    scores[rows] = np.arange(len(rows), dtype=float)
    return scores


class PeerStrategy:
    """One scikit-activeml query strategy as an autoal strategy (see the module's docstring).

    Parameters
    ----------
    method : str
        A key of :data:`PEERS`.
    """

    def __init__(self, method):
        self.method = method
        self.__name__ = PREFIX + method

    def query(self, x, y, batch_size, *, random_state, n_classes) -> np.ndarray:
        """scikit-activeml's picks for ``(x, y)``: ``batch_size`` row indices of ``x``, in its order."""
        factory, needs_classifier = PEERS[self.method]
        strategy = factory(random_state, n_classes)
        extra = {"clf": proxy_classifier(n_classes, random_state)} if needs_classifier else {}
        with one_blas_thread():  # as autoal's own k-means runs: TypiClust on 1,438 digits: 14.9 s with two BLAS
            # threads, 3.8 s with one, on this shared 2-core machine (autoal.common.threads)
            return np.asarray(strategy.query(x, y, batch_size=batch_size, **extra), dtype=np.int64)

    def __call__(self, labels_multiannotator, pred_probs, pred_probs_unlabeled, *, rng, context):
        """Scores of the pool (``context.pool``'s order): scikit-activeml's picks ranked first, in its order."""
        n_pool = len(context.pool)
        batch_size = min(int(context.batch_size), n_pool)
        random_state = int(rng.integers(2**31 - 1))
        if batch_size == 0:
            return None, np.zeros(0)
        x, y = peer_data(context)
        picked = self.query(x, y, batch_size, random_state=random_state, n_classes=context.n_classes)
        return None, picked_scores(picked - len(context.labelled), n_pool)

    def __repr__(self):
        return f"PeerStrategy({self.method!r})"
