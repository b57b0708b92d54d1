"""CROWDLAB consensus and annotator quality, equal to cleanlab 2.9's but fast at scale.

cleanlab's ``get_label_quality_multiannotator(..., calibrate_probs=True)`` (and with it
``multiannotator.get_active_learning_scores``) spends almost all its time in
``cleanlab.internal.multiannotator_utils.find_best_temp_scaler``: it tries 13 temperatures and, for
each, rebuilds the annotators' empirical label distribution with a per-example Python loop, although
that distribution does not depend on the temperature. With 100,000 labelled examples x 3 annotators x
10 classes each call takes about 20 s on 2 cores.

This module re-implements only that part: the empirical distribution is built once with
``np.bincount``. Everything else is cleanlab's own code (``softmax``, ``temp_scale_pred_probs``,
``_set_fine_search_range``, and ``get_label_quality_multiannotator`` with ``calibrate_probs=False`` on the
temperature-scaled probabilities, which is exactly how cleanlab applies its calibration). The results
equal cleanlab's: the same temperature, the same consensus labels, and scores within floating-point
rounding (the tests check ``rtol=1e-10``; in practice they are bit-for-bit equal). That includes a quirk
of cleanlab 2.9's label counting that shifts the temperature (see ``_empirical_label_distribution``).
ActiveLab's scores, built on these estimates, are in :mod:`autoal.multiannotator.activelab`.

Memo
----
The CROWDLAB part (temperature search plus ``get_label_quality_multiannotator``) can be memoised in a
:class:`CrowdlabMemo` that the caller owns and passes as ``memo=``: it keeps the most recent result,
keyed by a BLAKE2b hash of both arrays' dtypes, shapes and bytes and of the options. A run (its
session owns one memo) that computes consensus at the end of a round (:func:`multiannotator_quality`)
and ActiveLab scores at the start of the next
(:func:`autoal.multiannotator.activelab.active_learning_scores`) with the same labels
and probabilities does that work once. Only one result is kept, so memory stays bounded; its arrays
are read-only because the same object is handed to every caller. Without ``memo`` nothing is kept.

Ties and seeds
--------------
cleanlab's majority vote (the start of CROWDLAB) breaks the ties that its probability, class-frequency
and annotator-quality rules leave with ``np.random.choice`` on NumPy's global, unseeded generator. Here
that generator is seeded with ``random_state`` for the duration of the call and restored afterwards,
so two identical runs (and a resumed one) get the same consensus.

Counting
--------
``counting="cleanlab"`` (default) reproduces cleanlab 2.9's label counting in the temperature search;
``"by_class"`` counts each label at its class index, as the search intends (see
``_empirical_label_distribution``). Pass it to the functions, or set it for everything inside a block
with :func:`counting_mode` (how a benchmark compares both over whole runs).

cleanlab is imported inside the functions: it takes over a second to import.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
from dataclasses import dataclass

import numpy as np

from autoal.common.checks import StrOptions, check_option
from autoal.multiannotator.label_inputs import (
    as_label_array,
    check_crowdlab_inputs,
    check_labels_in_range,
    check_pred_probs,
)

__all__ = [
    "CrowdlabResult",
    "best_temperature",
    "multiannotator_quality",
    "resolve_counting",
    "CrowdlabMemo",
    "counting_mode",
    "COUNTINGS",
]

COARSE_TEMPERATURES = (0.1, 0.2, 0.5, 0.8, 1, 2, 3, 5, 8)  # find_best_temp_scaler's defaults
FINE_SEARCH_SIZE = 4
_SMALL_CONST = 1e-30  # cleanlab's SMALL_CONST, the clip floor before taking logs

#: How the temperature search can count each example's labels: ``"cleanlab"`` reproduces cleanlab 2.9
#: exactly (counts of float labels packed into the first columns, see ``_empirical_label_distribution``);
#: ``"by_class"`` puts each count at its class index, as the search intends.
COUNTINGS = ("cleanlab", "by_class")

_counting: contextvars.ContextVar[str] = contextvars.ContextVar("autoal_crowdlab_counting", default="cleanlab")


@contextlib.contextmanager
def counting_mode(counting: str):
    """Within the ``with`` block, calls that do not pass ``counting=`` count labels this way (:data:`COUNTINGS`)."""
    _check_counting(counting)
    token = _counting.set(counting)
    try:
        yield
    finally:
        _counting.reset(token)


class CrowdlabMemo:
    """The most recent CROWDLAB result, reused when the same inputs come again (see the module docstring)."""

    def __init__(self):
        self._entry: tuple[bytes, CrowdlabResult] | None = None

    def get(self, key: bytes):
        """The result stored under ``key``, or None."""
        return self._entry[1] if self._entry is not None and self._entry[0] == key else None

    def put(self, key: bytes, result) -> None:
        """Keep ``result`` under ``key`` (dropping the one before)."""
        self._entry = (key, result)

    def clear(self) -> None:
        """Forget the stored result."""
        self._entry = None


@dataclass(frozen=True, eq=False)  # eq on arrays is ambiguous; compare fields instead
class CrowdlabResult:
    """CROWDLAB estimates for N labelled examples and M annotators.

    Attributes
    ----------
    consensus_label : ndarray of int, shape (N,)
        Consensus class index per example (cleanlab's ``best_quality`` consensus).
    consensus_quality : ndarray of float, shape (N,)
        Quality of each consensus label in [0, 1]; higher = more likely correct.
    annotator_quality : ndarray of float, shape (M,)
        Quality of each annotator (column order of the input) in [0, 1]; higher = more trustworthy.
    model_weight : float
        Weight of the model's probabilities in CROWDLAB's weighted average.
    annotator_weight : ndarray of float, shape (M,)
        Weight of each annotator in that average.
    temperature : numpy.float64
        Temperature the model's probabilities were scaled with before all of the above.
    """

    consensus_label: np.ndarray
    consensus_quality: np.ndarray
    annotator_quality: np.ndarray
    model_weight: float
    annotator_weight: np.ndarray
    temperature: float


def best_temperature(labels_multiannotator, pred_probs, *, counting=None) -> float:
    """Temperature that best calibrates ``pred_probs`` to the annotators' labels.

    Returns exactly what cleanlab's ``find_best_temp_scaler`` returns: the temperature among
    ``0.1, 0.2, 0.5, 0.8, 1, 2, 3, 5, 8`` (then a finer grid around the best of those) that minimises
    the mean soft cross-entropy between the annotators' empirical label distribution and the
    temperature-scaled probabilities.

    Parameters
    ----------
    labels_multiannotator : ndarray or DataFrame, shape (N, M)
        Class indices in ``0..K-1``, NaN where an annotator gave no label; every row has a label.
    pred_probs : ndarray of float, shape (N, K)
        Predicted class probabilities for the same examples.
    counting : {"cleanlab", "by_class"}, optional
        How labels are counted (default: :func:`counting_mode`'s, else ``"cleanlab"``).

    Returns
    -------
    numpy.float64
        The temperature; below 1 sharpens the probabilities, above 1 smooths them. NumPy's float64 as
        cleanlab's, so that float32 probabilities scaled by it are computed as cleanlab computes them.
    """
    labels = as_label_array(labels_multiannotator)
    pred_probs = check_pred_probs(pred_probs, len(labels))
    check_labels_in_range(labels, pred_probs.shape[1])
    return _best_temperature(labels, pred_probs, resolve_counting(counting))


def multiannotator_quality(labels_multiannotator, pred_probs, *, random_state=0, memo=None,
                           counting=None) -> CrowdlabResult:
    """CROWDLAB consensus labels and annotator quality, with calibrated probabilities.

    Equal to cleanlab's ``get_label_quality_multiannotator(labels_multiannotator, pred_probs,
    calibrate_probs=True, return_weights=True, return_annotator_stats=True)`` with NumPy's global
    generator seeded with ``random_state`` (cleanlab's last majority-vote tie-break). With a ``memo``,
    a second call with identical inputs returns the same object (see the module docstring).

    Parameters
    ----------
    labels_multiannotator : ndarray or DataFrame, shape (N, M)
        Class indices in ``0..K-1``, NaN where missing; M >= 2, every row and every column has at
        least one label, and at least one row has two or more.
    pred_probs : ndarray of float, shape (N, K)
        Out-of-sample predicted class probabilities for the same examples.
    random_state : int
        Seeds the ties cleanlab breaks at random.
    memo : CrowdlabMemo, optional
        Where the result is kept and looked up.
    counting : {"cleanlab", "by_class"}, optional
        How the temperature search counts labels (default: :func:`counting_mode`'s, else ``"cleanlab"``).

    Returns
    -------
    CrowdlabResult
        Consensus, its quality per example (higher = better), annotator quality and weights, and
        the temperature used.

    Raises
    ------
    ValueError
        With fewer than 2 annotator columns, no example labelled twice, or inputs cleanlab rejects
        (rows or columns without labels, labels outside ``0..K-1``, mismatched lengths).
    """
    labels = as_label_array(labels_multiannotator)
    pred_probs = check_pred_probs(pred_probs, len(labels))
    return _crowdlab(labels, pred_probs, _Options(random_state, resolve_counting(counting)), memo)


@dataclass(frozen=True)
class _Options:
    random_state: int
    counting: str


def resolve_counting(counting) -> str:
    """``counting`` itself, or :func:`counting_mode`'s when None (``"cleanlab"`` outside one); ValueError when it
    is not one of :data:`COUNTINGS`."""
    counting = _counting.get() if counting is None else counting
    _check_counting(counting)
    return counting


def _check_counting(counting) -> None:
    check_option("counting", counting, StrOptions(COUNTINGS), error=ValueError)


# --- temperature ----------------------------------------------------------------------------------


def _best_temperature(labels: np.ndarray, pred_probs: np.ndarray, counting: str) -> np.float64:
    from cleanlab.internal.multiannotator_utils import _set_fine_search_range

    distribution = _empirical_label_distribution(labels, pred_probs.shape[1], counting)
    log_pred_probs = np.log(pred_probs, where=pred_probs > 0, out=np.full(pred_probs.shape, -np.inf))
    coarse = list(COARSE_TEMPERATURES)
    coarse_entropy = [_mean_soft_cross_entropy(distribution, log_pred_probs, t) for t in coarse]
    fine = _set_fine_search_range(coarse, FINE_SEARCH_SIZE, np.argmin(coarse_entropy))
    fine_entropy = [_mean_soft_cross_entropy(distribution, log_pred_probs, t) for t in fine]
    # NumPy's float64, as cleanlab returns it: a Python float would leave float32 probabilities in float32
    return np.float64(fine[np.argmin(fine_entropy)])


def _empirical_label_distribution(labels: np.ndarray, num_classes: int, counting="cleanlab") -> np.ndarray:
    """Share of each row's labels per class, shape (N, K), laid out as cleanlab 2.9 lays it out.

    cleanlab fills each row with ``value_counts(row_labels, num_classes=K)``. For float labels (any
    array with NaN) that function writes the counts of the classes present into the first columns
    in class order, not at the class indices: labels [2, 2] with K = 3 give [1, 0, 0]. Integer
    labels get the counts at their class indices. This looks like a cleanlab 2.9 bug (it pushes the
    search towards high temperatures), but it is reproduced on purpose so that the temperature and
    every score equal cleanlab's; ``test_crowdlab`` fails if a cleanlab release changes it.
    """
    rows, cols = np.nonzero(~np.isnan(labels))
    classes = labels[rows, cols].astype(np.intp)
    counts = np.bincount(rows * num_classes + classes, minlength=len(labels) * num_classes)
    counts = counts.reshape(len(labels), num_classes)
    if counting == "cleanlab" and not np.issubdtype(labels.dtype, np.integer):
        counts = _pack_left(counts)
    return counts / counts.sum(axis=1, keepdims=True)


def _pack_left(counts: np.ndarray) -> np.ndarray:
    present = counts > 0
    position = np.cumsum(present, axis=1) - 1
    rows, cols = np.nonzero(present)
    packed = np.zeros_like(counts)
    packed[rows, position[rows, cols]] = counts[rows, cols]
    return packed


def _mean_soft_cross_entropy(distribution, log_pred_probs, temperature) -> float:
    # The same operations as cleanlab's compute_soft_cross_entropy, in the same order.
    from cleanlab.internal.numerics import softmax

    scaled = softmax(log_pred_probs, temperature=temperature, axis=1, shift=False)
    clipped = np.clip(scaled, a_min=_SMALL_CONST, a_max=None)
    num_classes = distribution.shape[1]
    return np.mean(-np.sum(distribution * np.log(clipped), axis=1) / np.log(num_classes))


# --- CROWDLAB (memoised) --------------------------------------------------------------------------


def _crowdlab(labels: np.ndarray, pred_probs: np.ndarray, options: _Options, memo) -> CrowdlabResult:
    key = _memo_key(labels, pred_probs, options) if memo is not None else None
    result = memo.get(key) if memo is not None else None
    if result is None:
        result = _compute_crowdlab(labels, pred_probs, options)
        if memo is not None:
            memo.put(key, result)
    return result


def _memo_key(labels: np.ndarray, pred_probs: np.ndarray, options: _Options) -> bytes:
    digest = hashlib.blake2b(digest_size=32)
    digest.update(repr(options).encode())
    for array in (labels, pred_probs):
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).data)
    return digest.digest()


@contextlib.contextmanager
def _seeded_global_numpy(random_state):
    """Seed NumPy's global generator for the block and restore its state after: cleanlab breaks its last
    majority-vote ties with ``np.random.choice`` and takes no seed, so this is the only way to seed them."""
    state = np.random.get_state()
    np.random.seed(np.random.SeedSequence(random_state).generate_state(1)[0])
    try:
        yield
    finally:
        np.random.set_state(state)


def _compute_crowdlab(labels: np.ndarray, pred_probs: np.ndarray, options: _Options) -> CrowdlabResult:
    from cleanlab.internal.multiannotator_utils import (
        assert_valid_inputs_multiannotator,
        temp_scale_pred_probs,
    )
    from cleanlab.multiannotator import get_label_quality_multiannotator

    check_crowdlab_inputs(labels)
    check_labels_in_range(labels, pred_probs.shape[1])
    assert_valid_inputs_multiannotator(labels, pred_probs)  # also rejects columns without labels
    temperature = _best_temperature(labels, pred_probs, options.counting)
    with _seeded_global_numpy(options.random_state):
        info = get_label_quality_multiannotator(
            labels,
            temp_scale_pred_probs(pred_probs, temperature),
            calibrate_probs=False,
            return_weights=True,
            return_annotator_stats=True,
            verbose=False,
        )
    per_example = info["label_quality"]
    annotator_stats = info["annotator_stats"].sort_index()  # cleanlab sorts it by quality
    return CrowdlabResult(
        consensus_label=_read_only(per_example["consensus_label"].to_numpy(dtype=int)),
        consensus_quality=_read_only(per_example["consensus_quality_score"].to_numpy(dtype=float)),
        annotator_quality=_read_only(annotator_stats["annotator_quality"].to_numpy(dtype=float)),
        model_weight=float(info["model_weight"]),
        annotator_weight=_read_only(np.asarray(info["annotator_weight"], dtype=float)),
        temperature=temperature,
    )


def _read_only(array: np.ndarray) -> np.ndarray:
    array = np.array(array)
    array.flags.writeable = False
    return array

