"""A final model, fitted once on a run's labels: ``autoal train RUN_DIR --learner autogluon``.

The rounds use a learner that is quick to refit and picks well (by default logistic regression on frozen
embeddings); the model a user deploys may deserve a slower one. This fits any named learner (AutoGluon
MultiModal fine-tuning by default) once, on the run's consensus labels, measures it on the run's own
holdout beside the run's last model, and saves it as ``RUN_DIR/final-model/`` for ``autoal predict --model
final`` (:mod:`autoal.results.model`). This is "selection via proxy" (Coleman et al., ICLR 2020): a cheap
model chooses the examples, the expensive one is trained once.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from autoal.common.json_values import finite_or_none
from autoal.common.wording import accuracy_text
from autoal.errors import InputError

__all__ = ["train_final_model", "FINAL_FIT_DIR"]

#: Where the final learner's own files go while it fits (AutoGluon's predictor folders), inside the run folder.
FINAL_FIT_DIR = "final-fit"


def train_final_model(run_dir, *, learner="autogluon", learner_options=None, verbose=True) -> dict:
    """Fit ``learner`` once on the run's consensus labels, compare it with the run's model on the run's holdout,
    and save it in ``RUN_DIR/final-model/``.

    Parameters
    ----------
    run_dir : path-like
        A run folder (finished, paused or being served: its labels are read as they are now).
    learner : str
        A name in :data:`autoal.learners.LEARNERS` (default ``"autogluon"``: MultiModal fine-tuning the packaged
        ImageNet network, on a GPU when there is one).
    learner_options : dict, optional
        The learner's options, as for :func:`autoal.run`.
    verbose : bool
        Print what is fitted and the comparison.

    Returns
    -------
    dict
        ``learner``, ``n_labeled``, ``fit_seconds``, ``accuracy`` (the final model's holdout accuracy, NaN
        without a holdout), ``run_learner``, ``run_accuracy`` (the run's own model on the same holdout, NaN when
        the run saved none), ``n_holdout`` and ``folder`` (the saved model).
    """
    from autoal.results.model import FINAL_MODEL_DIR, save_model
    from autoal.store.run_state import open_run

    state = open_run(run_dir)
    try:
        model, n_labeled, fit_seconds = _fit_once(state, run_dir, learner, learner_options, verbose)
        test = state.data.test
        accuracy = _accuracy(model.predict_proba, test, state)
        records = state.store.rounds()
        last = records[-1][0] if records else {}
        report = {"learner": learner, "n_labeled": n_labeled, "fit_seconds": round(fit_seconds, 1),
                  "accuracy": accuracy, "n_holdout": int(len(test)), "run_round": last.get("round"),
                  "run_learner": state.settings.get("learner"), **_run_model_accuracy(run_dir, test, state)}
        facts = {"round": last.get("round"), "n_labeled": n_labeled, "accuracy": finite_or_none(accuracy),
                 "holdout": state.data.holdout, "n_holdout": report["n_holdout"], "run_id": state.store.run_id,
                 "trained_on": "the run's consensus labels, once (autoal train)", "fit_seconds": report["fit_seconds"],
                 "run_learner": report["run_learner"], "run_accuracy": finite_or_none(report["run_accuracy"])}
        report["folder"] = str(save_model(model, Path(run_dir) / FINAL_MODEL_DIR, facts))
    finally:
        state.close()
    if verbose:
        print(describe(report, run_dir))
    return report


def _fit_once(state, run_dir, learner, learner_options, verbose) -> tuple:
    """``(fitted learner, labels, seconds)``: ``learner`` configured as the run's and fitted on its consensus labels."""
    from autoal.learners import make_learner
    from autoal.results.export import store_consensus

    consensus, positions, _ = store_consensus(state, state.snapshot())
    if consensus is None or len(set(consensus.labels.tolist())) < 2:
        raise InputError(f"the run in {str(run_dir)!r} has labels of fewer than 2 classes; label more before "
                         "training a final model")
    settings, label = state.settings, state.label
    inputs = state.data.frame.drop(columns=[label])  # in simulation the hidden truth stays hidden
    train = inputs.iloc[positions].assign(**{label: np.asarray(state.classes)[consensus.labels]})
    model = make_learner(learner, **(learner_options or {}))
    features = model.usable_feature_columns(_features(settings), image_col=settings["image_col"])
    model.configure(classes=state.classes, label=label, image_col=settings["image_col"],
                    output_dir=Path(run_dir) / FINAL_FIT_DIR, random_state=settings.get("random_state", 0),
                    feature_columns=features)
    model.resolve_options(inputs)
    if verbose:
        print(f"autoal train: fitting {learner} once on the run's {len(train)} consensus labels "
              f"({len(state.classes)} classes)", flush=True)
    started = time.perf_counter()
    model.fit(train)
    return model, int(len(train)), time.perf_counter() - started


def _features(settings):
    from autoal.data.feature_columns import FeatureColumns

    return FeatureColumns.from_dict(settings.get("features")) or FeatureColumns()


def _accuracy(predict_proba, test, state) -> float:
    """Holdout accuracy of ``predict_proba`` on the run's holdout (NaN without one)."""
    if not len(test):
        return float("nan")
    probs = predict_proba(test.drop(columns=[state.label]))
    truth = np.array([state.class_index[c] for c in test[state.label]])
    return float((probs.argmax(axis=1) == truth).mean())


def _run_model_accuracy(run_dir, test, state) -> dict:
    """The run's own saved model on the same holdout: ``run_accuracy`` (NaN when the run saved none)."""
    from autoal.results.model import load_model

    try:
        saved = load_model(run_dir)
    except InputError:
        return {"run_accuracy": float("nan"), "run_model": None}
    return {"run_accuracy": _accuracy(saved.predict_proba, test, state),
            "run_model": f"{saved.info['learner']}, round {saved.info.get('round')}, {saved.info.get('n_labeled')} labels"}


def describe(report: dict, run_dir) -> str:
    """The comparison in words, with the command that predicts with the final model."""
    holdout = f"on the run's {report['n_holdout']} holdout examples" if report["n_holdout"] else \
        "(no holdout: the run keeps no labelled examples aside, so neither can be measured)"
    run_side = (f"the run's own model ({report['run_model']}): {accuracy_text(report['run_accuracy'])}"
                if report.get("run_model") else "the run saved no model of its own to compare")
    return (f"autoal train: final {report['learner']} model, fitted in {report['fit_seconds']:.1f} s on "
            f"{report['n_labeled']} labels: holdout accuracy {accuracy_text(report['accuracy'])} {holdout}; {run_side}.\n"
            f"  saved in {report['folder']}; predict with `autoal predict {run_dir} IMAGES --model final`")
