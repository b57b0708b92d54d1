"""The inputs of CROWDLAB and ActiveLab checked and read as cleanlab reads them: the examples x annotators label
matrix and the predicted probabilities, with errors that say what to pass instead."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["as_label_array", "check_pred_probs", "check_labels_in_range", "check_crowdlab_inputs"]


def as_label_array(labels_multiannotator) -> np.ndarray:
    """``labels_multiannotator`` (ndarray or DataFrame, examples x annotators) as a 2-D array, as cleanlab reads it."""
    # Like cleanlab: a DataFrame becomes float (pd.NA -> NaN); an ndarray keeps its dtype, which
    # matters because cleanlab's empirical distribution differs for integer and float labels.
    if isinstance(labels_multiannotator, pd.DataFrame):
        return labels_multiannotator.replace({pd.NA: np.nan}).astype(float).to_numpy()
    labels = np.asarray(labels_multiannotator)
    if labels.dtype == object:
        labels = labels.astype(float)
    if labels.ndim != 2:
        raise ValueError(
            f"labels_multiannotator must be 2-D (examples x annotators), got shape {labels.shape}."
        )
    return labels


def check_pred_probs(pred_probs, num_examples: int) -> np.ndarray:
    """``pred_probs`` itself when it is a 2-D ndarray with ``num_examples`` rows; TypeError or ValueError otherwise."""
    if not isinstance(pred_probs, np.ndarray):
        raise TypeError(f"pred_probs must be a numpy array, got {type(pred_probs).__name__}.")
    if pred_probs.ndim != 2 or len(pred_probs) != num_examples:
        raise ValueError(
            f"pred_probs must have shape (N, K) with N = {num_examples} rows like "
            f"labels_multiannotator, got {pred_probs.shape}."
        )
    return pred_probs


def check_labels_in_range(labels: np.ndarray, num_classes: int) -> None:
    """ValueError when a row of ``labels`` has no label or a label is not a class index below ``num_classes``."""
    given = ~np.isnan(labels)
    empty = np.flatnonzero(~given.any(axis=1))
    if empty.size:
        raise ValueError(
            f"{empty.size} rows of labels_multiannotator have no label (first: {empty[:10].tolist()}); "
            "leave unlabelled examples out of it and score them as pred_probs_unlabeled."
        )
    values = labels[given]
    bad = (values != np.round(values)) | (values < 0) | (values >= num_classes)
    if bad.any():
        raise ValueError(
            f"labels must be class indices in 0..{num_classes - 1} (pred_probs has {num_classes} "
            f"columns); found {np.unique(values[bad])[:10].tolist()}."
        )


def check_crowdlab_inputs(labels: np.ndarray) -> None:
    """ValueError when ``labels`` has fewer than 2 annotator columns or no example labelled twice (CROWDLAB's needs)."""
    if labels.shape[1] < 2:
        raise ValueError(
            f"CROWDLAB needs at least 2 annotator columns, got {labels.shape[1]}; with one annotator "
            "use cleanlab.rank.get_label_quality_scores on its labels."
        )
    if not ((~np.isnan(labels)).sum(axis=1) >= 2).any():
        raise ValueError(
            f"CROWDLAB needs at least one example labelled by 2 or more annotators; none of the "
            f"{len(labels)} examples is. Use each example's label as its consensus instead."
        )
