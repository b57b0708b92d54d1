"""The embeddings learner's second head: Poisson learning on the run's pool graph, mixed with the logistic head.

The logistic head sees only the labelled rows; the pool graph (:mod:`autoal.graph.pool_graph`) also sees where the
unlabelled examples lie, which is worth most when labels are few. Neither is best everywhere: where classes
cut across what the embeddings group, the graph misleads. So each fit chooses the mixture
``w * graph + (1 - w) * logistic`` (and the graph's softmax temperature) from the run's own labels
(:func:`choose_mixture`: held-out accuracy, then log loss, of both heads trained without the held-out rows),
shrunk towards an even mix while the held-out rows are few. A last step calibrates the mixture without changing any
row's order of classes: one power of the probabilities (:func:`choose_power`), fitted by log loss on the same
held-out rows (the temperature is chosen for accuracy, which barely depends on it; the powers fitted are mostly
above 1: a mixture of two heads that disagree comes out too soft).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autoal.common.checks import StrOptions, check_option

__all__ = ["GRAPH_MODES", "GraphHead", "choose_mixture", "choose_power", "calibrated", "graph_probabilities",
           "validation_folds", "VALIDATION_ROWS", "FOLD_LIMIT", "TEMPERATURES", "PRIOR_WEIGHT", "PRIOR_ROWS", "POWERS"]

#: Values of the embeddings learner's ``graph``: mix both heads, the graph alone, or the logistic head alone.
GRAPH_MODES = ("combine", "only", "off")
#: Labelled rows held out (at most) to choose the mixture.
VALIDATION_ROWS = 100
#: Up to this many labels the held-out rows rotate over 5 folds (every held-out row is predicted by heads trained
#: without it); beyond, one split (one extra fit of each head).
FOLD_LIMIT = 200
#: The graph's softmax temperatures tried (scores divided by their standard deviation, times the temperature).
TEMPERATURES = (1.0, 3.0, 10.0, 30.0)
#: Graph weights tried.
WEIGHTS = np.round(np.linspace(0.0, 1.0, 11), 2)
#: With no held-out row the mixture is even and the temperature the middle one; the choice moves away from
#: this as held-out rows accumulate, as if it were worth ``PRIOR_ROWS`` rows.
PRIOR_WEIGHT, PRIOR_TEMPERATURE, PRIOR_ROWS = 0.5, 10.0, 5
#: Powers tried by the calibration step (``p ** a``, renormalised; below 1 softens, above 1 sharpens).
POWERS = np.round(np.exp(np.linspace(np.log(0.2), np.log(3.0), 28)), 4)


def check_graph_mode(mode) -> None:
    """Raise InputError unless ``mode`` is one of :data:`GRAPH_MODES`."""
    check_option("graph of the embeddings learner", mode, StrOptions(GRAPH_MODES))


def graph_probabilities(scores, scale, temperature) -> np.ndarray:
    """Poisson scores (n, K) as probabilities: ``softmax(scores / scale * temperature)``, ``scale`` one number or one
    per row (held-out rows come from different solutions); ``-inf`` (a class without labels) gets probability 0."""
    scale = np.maximum(np.asarray(scale, dtype=float), 1e-12)
    z = np.asarray(scores, dtype=float) * (temperature / (scale.reshape(-1, 1) if scale.ndim else scale))
    top = np.max(np.where(np.isfinite(z), z, -np.inf), axis=1, keepdims=True)
    e = np.exp(z - np.where(np.isfinite(top), top, 0.0))
    total = e.sum(axis=1, keepdims=True)
    return e / np.where(total > 0, total, 1.0)


def score_scale(scores) -> float:
    """The standard deviation of the finite scores (1 when there are none)."""
    finite = np.asarray(scores)[np.isfinite(scores)]
    return float(finite.std()) if finite.size and finite.std() > 0 else 1.0


def choose_mixture(logistic, graph_scores, scales, truth) -> tuple:
    """The graph's weight and temperature that predict held-out labels best.

    Parameters
    ----------
    logistic : ndarray, shape (h, K)
        The logistic head's probabilities of the held-out rows (trained without them).
    graph_scores : ndarray, shape (h, K)
        Poisson scores of the held-out rows (labels spread without them).
    scales : ndarray, shape (h,)
        Each row's score scale (:func:`score_scale` of the solution it comes from).
    truth : ndarray of int, shape (h,)

    Returns
    -------
    (weight, temperature)
        The pair of :data:`WEIGHTS` x :data:`TEMPERATURES` with the highest held-out accuracy, ties broken by the
        lower log loss, then the weight shrunk towards :data:`PRIOR_WEIGHT` as if the prior were
        :data:`PRIOR_ROWS` more rows. With no row: the prior.
    """
    h = len(truth)
    if h == 0:
        return PRIOR_WEIGHT, PRIOR_TEMPERATURE
    rows = np.arange(h)
    best = None
    for temperature in TEMPERATURES:
        graph = graph_probabilities(graph_scores, scales, temperature)
        for weight in WEIGHTS:
            mixed = weight * graph + (1 - weight) * logistic
            accuracy = float((mixed.argmax(axis=1) == truth).mean())
            loss = float(-np.log(np.clip(mixed[rows, truth], 1e-12, None)).mean())
            key = (-accuracy, loss)
            if best is None or key < best[0]:
                best = (key, weight, temperature)
    _, weight, temperature = best
    return (PRIOR_ROWS * PRIOR_WEIGHT + h * weight) / (PRIOR_ROWS + h), temperature


def calibrated(probs, power) -> np.ndarray:
    """``probs ** power``, each row renormalised: every row keeps its order of classes (so its top class)."""
    probs = np.asarray(probs, dtype=float)
    if power == 1.0:
        return probs
    raised = np.power(probs, power)
    total = raised.sum(axis=1, keepdims=True)
    return raised / np.where(total > 0, total, 1.0)


def choose_power(probs, truth) -> float:
    """The power of :data:`POWERS` whose :func:`calibrated` ``probs`` (h, K) have the lowest log loss of ``truth``,
    shrunk towards 1 (in log space) as if 1 were worth :data:`PRIOR_ROWS` more rows; 1 with no row.

    Why not scikit-learn's ``CalibratedClassifierCV``: it calibrates each class one-vs-rest (sigmoid or isotonic),
    which can change a row's top class and needs far more held-out rows than the 2-100 a run has here; one power
    (temperature scaling on the log probabilities, Guo et al. 2017) keeps every row's order and fits on few rows.
    """
    h = len(truth)
    if h == 0:
        return 1.0
    rows = np.arange(h)
    losses = [float(-np.log(np.clip(calibrated(probs, a)[rows, truth], 1e-12, None)).mean()) for a in POWERS]
    best = float(POWERS[int(np.argmin(losses))])
    return float(np.exp(h * np.log(best) / (PRIOR_ROWS + h)))


def validation_folds(labels, *, random_state=None) -> list:
    """Held-out rows for :func:`choose_mixture`: a list of arrays of row numbers (the folds).

    A seeded sample of at most :data:`VALIDATION_ROWS` labelled rows, never a class's last label (each fold's
    training rows keep every class); 5 folds up to :data:`FOLD_LIMIT` labels, one beyond. Empty when no class
    has two labels.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(random_state)
    left = dict(zip(*np.unique(labels, return_counts=True)))
    held = []
    for row in rng.permutation(len(labels)):
        if len(held) >= VALIDATION_ROWS or len(held) >= len(labels) // 2:
            break
        if left[labels[row]] >= 2:
            held.append(int(row))
            left[labels[row]] -= 1
    if not held:
        return []
    held = np.sort(np.asarray(held, dtype=np.int64))
    n_folds = min(5, len(held)) if len(labels) <= FOLD_LIMIT else 1
    return [fold for fold in np.array_split(rng.permutation(held), n_folds) if len(fold)]


@dataclass
class GraphHead:
    """Poisson learning on the run's pool graph (:class:`~autoal.learners.population_graph.PopulationGraph`) for one
    fit: the labels spread over the pool, and the mixture chosen for them.

    Attributes
    ----------
    scores : ndarray, shape (n, K)
        Every node's Poisson scores.
    scale : float
        Their :func:`score_scale`.
    weight, temperature : float
        The mixture (:func:`choose_mixture`).
    n_validation : int
        Held-out rows the mixture was chosen on.
    power : float
        The calibration step's power (:func:`choose_power`; 1 for a head saved before it existed).
    """

    scores: np.ndarray
    scale: float
    weight: float
    temperature: float
    n_validation: int
    power: float = 1.0

    @classmethod
    def fit(cls, graph, nodes, labels, n_classes, *, mode="combine", logistic_without=None, random_state=None):
        """Spread ``labels`` (class numbers) from ``nodes`` over ``graph`` (a :class:`~autoal.graph.pool_graph.PoolGraph`)
        and choose the mixture.

        ``logistic_without(train_rows, held_rows) -> (len(held_rows), K)`` gives the logistic head's probabilities of
        the held-out rows when trained on the training rows (row numbers into ``nodes``); with ``mode="only"`` the
        graph's weight is 1 and nothing is held out.
        """
        from autoal.graph.poisson import poisson_scores

        nodes, labels = np.asarray(nodes, dtype=np.int64), np.asarray(labels, dtype=np.int64)
        scores = poisson_scores(graph.weights, nodes, labels, n_classes, normalised=graph.normalised)
        if mode == "only":
            return cls(scores, score_scale(scores), 1.0, PRIOR_TEMPERATURE, 0)
        folds = validation_folds(labels, random_state=random_state)
        parts = [cls._held_out(graph, nodes, labels, n_classes, fold, logistic_without, scores) for fold in folds]
        if parts:
            logistic, graph_scores, scales, truth = (np.concatenate(p) for p in zip(*parts))
        else:
            logistic = graph_scores = np.zeros((0, n_classes))
            scales, truth = np.zeros(0), np.zeros(0, dtype=np.int64)
        weight, temperature = choose_mixture(logistic, graph_scores, scales, truth)
        head = cls(scores, score_scale(scores), weight, temperature, len(truth))
        if len(truth):
            head.power = choose_power(head.mix(graph_probabilities(graph_scores, scales, temperature), logistic), truth)
        return head

    @staticmethod
    def _held_out(graph, nodes, labels, n_classes, held, logistic_without, all_labels) -> tuple:
        """(logistic probabilities, graph scores, score scales, truth) of the ``held`` rows, both heads trained
        without them; the graph's solve starts from ``all_labels``'s scores (the same problem with a few labels
        more)."""
        from autoal.graph.poisson import poisson_scores

        train = np.setdiff1d(np.arange(len(nodes)), held)
        scores = poisson_scores(graph.weights, nodes[train], labels[train], n_classes, normalised=graph.normalised,
                                start=all_labels)
        scale = score_scale(scores)
        return logistic_without(train, held), scores[nodes[held]], np.full(len(held), scale), labels[held]

    def scores_of(self, graph, nodes, vectors_of) -> np.ndarray:
        """Scores of rows given their ``nodes`` (-1: outside the graph); rows outside are read through their nearest
        pool examples (:meth:`~autoal.graph.pool_graph.PoolGraph.extend`), ``vectors_of(rows)`` giving their
        embeddings."""
        nodes = np.asarray(nodes, dtype=np.int64)
        out = np.empty((len(nodes), self.scores.shape[1]))
        inside = nodes >= 0
        out[inside] = self.scores[nodes[inside]]
        outside = np.flatnonzero(~inside)
        if len(outside):
            neighbours, weights = graph.extend(vectors_of(outside))
            seen = np.isfinite(self.scores[0])  # a class without labels is -inf at every node
            spread = np.full((len(outside), self.scores.shape[1]), -np.inf)
            spread[:, seen] = np.einsum("ij,ijk->ik", weights, self.scores[neighbours][:, :, seen])
            out[outside] = spread
        return out

    def probabilities(self, scores) -> np.ndarray:
        """Graph probabilities of rows with these Poisson ``scores`` (n, K)."""
        return graph_probabilities(scores, self.scale, self.temperature)

    def mix(self, graph_probs, logistic_probs) -> np.ndarray:
        """``weight * graph + (1 - weight) * logistic``, raised to the head's calibration ``power`` (renormalised)."""
        if self.weight >= 1.0:
            return calibrated(graph_probs, self.power)
        return calibrated(self.weight * graph_probs + (1.0 - self.weight) * logistic_probs, self.power)
