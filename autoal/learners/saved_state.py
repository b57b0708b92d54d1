"""Fitted scikit-learn heads as plain values and back, for :meth:`autoal.learners.Learner.save_fitted`.

The embeddings and fast learners' head is a pipeline of :class:`~autoal.learners.feature_blocks.BlockScaler` and
``LogisticRegression``. Its fitted state is a few arrays (means, scales, coefficients, intercepts) and a few
numbers, saved as such instead of pickling the estimators (a pickle runs code when loaded). Rebuilding sets the
same fitted attributes on new estimators, so ``predict_proba`` is scikit-learn's own, on the same numbers:
the loaded model gives exactly the probabilities of the one that was saved.
"""

from __future__ import annotations

import json

import numpy as np

from autoal.common.json_values import json_value

__all__ = ["logistic_pipeline_state", "logistic_pipeline_from_state", "link_tree"]


def logistic_pipeline_state(pipeline, prefix="head") -> tuple:
    """``(state, arrays)`` of a fitted ``make_pipeline(BlockScaler(...), LogisticRegression(...))``.

    Parameters
    ----------
    pipeline : sklearn Pipeline
        Fitted, with exactly those two steps.
    prefix : str
        Prefix of the array names (one learner may save several heads).

    Returns
    -------
    state : dict
        JSON-able: the block scaler's ``n_image`` and weight, the logistic regression's parameters and classes.
    arrays : dict of ndarray
        ``<prefix>_mean``, ``<prefix>_scale`` (one per input column), ``<prefix>_coef`` (K', d) and
        ``<prefix>_intercept`` (K',), each in the dtype it was fitted in (float32 inputs give float32 coefficients).
    """
    scaler, head = pipeline.steps[0][1], pipeline.steps[-1][1]
    params = json_value(head.get_params())
    json.dumps(params)  # a parameter JSON cannot hold would make the model unloadable: fail at saving instead
    state = {"n_image": int(scaler.n_image), "weight": float(scaler.weight_), "logistic": params,
             "classes_": json_value(head.classes_), "n_iter_": json_value(head.n_iter_)}
    arrays = {f"{prefix}_mean": np.asarray(scaler.scaler_.mean_),
              f"{prefix}_scale": np.asarray(scaler.scaler_.scale_),
              f"{prefix}_coef": np.asarray(head.coef_),
              f"{prefix}_intercept": np.asarray(head.intercept_)}
    return state, arrays


def logistic_pipeline_from_state(state: dict, arrays: dict, prefix="head"):
    """The fitted pipeline :func:`logistic_pipeline_state` described, its fitted attributes set from the values."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from autoal.learners.feature_blocks import BlockScaler, _fixed_scaler

    mean, scale = arrays[f"{prefix}_mean"], arrays[f"{prefix}_scale"]
    scaler = BlockScaler(state["n_image"])
    scaler.scaler_ = _fixed_scaler(mean, scale, len(mean))
    scaler.weight_ = state["weight"]
    head = LogisticRegression(**state["logistic"])
    head.coef_ = np.asarray(arrays[f"{prefix}_coef"])
    head.intercept_ = np.asarray(arrays[f"{prefix}_intercept"])
    head.classes_ = np.asarray(state["classes_"])
    head.n_features_in_ = head.coef_.shape[1]
    head.n_iter_ = np.asarray(state["n_iter_"])
    return make_pipeline(scaler, head)


def link_tree(source, target) -> None:
    """Copy folder ``source`` to ``target`` (which must not exist), hard-linking its files where the file system
    allows (a saved model of AutoGluon's predictor folders then costs no copy), else copying them."""
    import os
    import shutil

    def link_or_copy(src, dst):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link_or_copy)
