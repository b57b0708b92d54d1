"""ActiveLab scores, equal to cleanlab 2.9's ``multiannotator.get_active_learning_scores`` but fast at scale.

ActiveLab scores labelled examples (worth another annotator's label) and unlabelled ones (worth a first
label) on one scale. With several labels on some examples it starts from CROWDLAB's estimates
(:func:`autoal.multiannotator.crowdlab.multiannotator_quality`, memoised there, so a round's consensus and the
next round's scores share one computation); cleanlab's per-row ``np.average`` for the labelled scores is one
vectorised expression here. Everything else, including the one-label and pool-only branches, is cleanlab's
own code. The scores equal cleanlab's (tests: ``rtol=1e-10``, in practice bit for bit).
"""

from __future__ import annotations

import numpy as np

from autoal.multiannotator.crowdlab import multiannotator_quality, resolve_counting
from autoal.multiannotator.label_inputs import as_label_array, check_pred_probs

__all__ = ["active_learning_scores"]


def active_learning_scores(labels_multiannotator, pred_probs, pred_probs_unlabeled, *, random_state=0, memo=None,
                           counting=None):
    """ActiveLab scores for labelled and unlabelled examples, on one comparable scale.

    Equal to cleanlab's ``multiannotator.get_active_learning_scores`` in each of its cases: every
    labelled example has one label (no calibration, unit weights), some have several (CROWDLAB on
    temperature-scaled probabilities, kept in ``memo`` when one is given), no pool, or no labelled
    examples (only a pool). ``random_state``, ``memo`` and ``counting`` as for
    :func:`~autoal.multiannotator.crowdlab.multiannotator_quality`.

    Parameters
    ----------
    labels_multiannotator : ndarray, DataFrame or None, shape (N, M)
        Class indices in ``0..K-1``, NaN where missing; every row has at least one label. None or
        zero rows when nothing is labelled yet.
    pred_probs : ndarray of float or None, shape (N, K)
        Out-of-sample predicted probabilities of the labelled examples; None (or zero rows) when
        nothing is labelled.
    pred_probs_unlabeled : ndarray of float or None, shape (P, K)
        Predicted probabilities of the unlabelled pool; None when there is no pool.

    Returns
    -------
    scores_labeled : ndarray of float, shape (N,)
        In [0, 1]; lower = more informative to label again. Empty when nothing is labelled.
    scores_unlabeled : ndarray of float, shape (P,)
        In [0, 1], comparable with ``scores_labeled``; lower = more informative to label. Empty when
        there is no pool.

    Raises
    ------
    ValueError
        When both ``pred_probs`` and ``pred_probs_unlabeled`` are None, when labels and
        ``pred_probs`` are not given together (cleanlab silently ignores labels without
        ``pred_probs``; this raises instead), or on inputs cleanlab rejects.
    """
    from cleanlab.internal.multiannotator_utils import assert_valid_pred_probs

    assert_valid_pred_probs(pred_probs=pred_probs, pred_probs_unlabeled=pred_probs_unlabeled)
    labels = None if labels_multiannotator is None else as_label_array(labels_multiannotator)
    if labels is None or len(labels) == 0:
        return _pool_only_scores(pred_probs, pred_probs_unlabeled)
    if pred_probs is None:
        raise ValueError(
            f"pred_probs is None but labels_multiannotator has {len(labels)} rows: pass the labelled "
            "examples' predicted probabilities, or labels_multiannotator=None to score only the pool."
        )
    pred_probs = check_pred_probs(pred_probs, len(labels))
    counting = resolve_counting(counting)
    temperature, quality, model_weight, annotator_weight = _labelled_estimates(
        labels, pred_probs, random_state=random_state, memo=memo, counting=counting)
    num_classes = pred_probs.shape[1]
    scores_labeled = _labelled_scores(labels, quality, model_weight, annotator_weight, num_classes)
    if pred_probs_unlabeled is None:
        return scores_labeled, np.array([])
    scores_unlabeled = _unlabelled_scores(
        pred_probs_unlabeled, temperature, model_weight, np.mean(annotator_weight), num_classes
    )
    return scores_labeled, scores_unlabeled


def _labelled_estimates(labels: np.ndarray, pred_probs: np.ndarray, *, random_state, memo, counting):
    """(temperature, consensus quality (N,), model weight, annotator weights (M,)) as cleanlab has them."""
    if ((~np.isnan(labels)).sum(axis=1) == 1).all():
        return _single_label_estimates(labels, pred_probs)
    result = multiannotator_quality(labels, pred_probs, random_state=random_state, memo=memo, counting=counting)
    return result.temperature, result.consensus_quality, result.model_weight, result.annotator_weight


def _single_label_estimates(labels: np.ndarray, pred_probs: np.ndarray):
    # cleanlab's branch for one label per example: no calibration, unit weights.
    from cleanlab.internal.multiannotator_utils import assert_valid_inputs_multiannotator
    from cleanlab.multiannotator import get_majority_vote_label
    from cleanlab.rank import get_label_quality_scores

    assert_valid_inputs_multiannotator(labels, pred_probs, allow_single_label=True)
    consensus = get_majority_vote_label(labels, pred_probs=pred_probs, verbose=False)
    quality = get_label_quality_scores(consensus, pred_probs)
    return 1.0, quality, 1, np.full(labels.shape[1], 1)


def _labelled_scores(labels, quality, model_weight, annotator_weight, num_classes) -> np.ndarray:
    # cleanlab: np.average((quality[i], 1/K), weights=(sum of row i's annotator weights + model
    # weight, mean annotator weight)) per row; the same sum and division, for all rows at once.
    row_weight = np.where(np.isnan(labels), 0, annotator_weight).sum(axis=1) + model_weight
    prior_weight = np.mean(annotator_weight)
    quality = np.asarray(quality, dtype=float)
    return (quality * row_weight + (1 / num_classes) * prior_weight) / (row_weight + prior_weight)


def _unlabelled_scores(pred_probs_unlabeled, temperature, model_weight, prior_weight, num_classes):
    from cleanlab.internal.multiannotator_utils import temp_scale_pred_probs

    quality = np.max(temp_scale_pred_probs(pred_probs_unlabeled, temperature), axis=1)
    return np.average(
        np.stack([quality, np.full(len(quality), 1 / num_classes)]),
        weights=[model_weight, prior_weight],
        axis=0,
    )


def _pool_only_scores(pred_probs, pred_probs_unlabeled):
    # No labelled examples: cleanlab's own branch is vectorised, so it is used as is. cleanlab
    # rejects zero-row labels; here they mean "nothing labelled yet", like None.
    from cleanlab.multiannotator import get_active_learning_scores

    if pred_probs is not None and len(pred_probs):
        raise ValueError(
            f"pred_probs has {len(pred_probs)} rows but labels_multiannotator has none: pass the "
            "labels of those examples, or pred_probs=None to score only the pool."
        )
    if pred_probs_unlabeled is None:
        return np.array([]), np.array([])
    return get_active_learning_scores(None, None, pred_probs_unlabeled)
