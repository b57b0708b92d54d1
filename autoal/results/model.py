"""A run's model on disk: saved after every round, loaded without the run, used to predict new images.

``RUN_DIR/model/`` holds the run's learner after its last finished round; ``RUN_DIR/final-model/`` the model
``autoal train`` fitted once at the end (e.g. AutoGluon). Each folder is:

``model.json``
    What the model is: the learner's name in :data:`autoal.learners.LEARNERS`, the run's classes (the column
    order of ``predict_proba``), columns and feature columns, the round and labels it was trained on, its
    holdout accuracy, and the learner's own state (:meth:`autoal.learners.Learner.save_fitted`).
``arrays.npz``
    The learner's arrays (read with ``allow_pickle=False``).
more files
    Whatever the learner writes: the embeddings learner's networks as safetensors (``backbones/``),
    AutoGluon's own predictor folders (``predictors/``).

Loading the default learner's model (embeddings, logistic regression) runs no code: JSON, arrays and
safetensors only. AutoGluon's predictors are pickles (``runs_code`` in ``model.json``): :func:`load_model` warns
that loading one runs code, so load only models you made. A folder is written under a temporary name and
swapped in, so a crash leaves the previous model.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from autoal.common.files import write_json_atomic
from autoal.errors import InputError

__all__ = ["save_model", "load_model", "SavedModel", "MODEL_DIR", "FINAL_MODEL_DIR", "MODEL_FORMAT_VERSION",
           "model_folder", "learner_name"]

#: The run's own learner after its last round, in the run folder.
MODEL_DIR = "model"
#: The model ``autoal train`` fitted once on the run's consensus labels.
FINAL_MODEL_DIR = "final-model"
MODEL_FORMAT_VERSION = 1
_FORMAT = "autoal-model"


def learner_name(learner) -> str | None:
    """The name ``learner``'s class is registered under in :data:`autoal.learners.LEARNERS`, or None."""
    from autoal.learners import LEARNERS

    return next((name for name, cls in LEARNERS.items() if type(learner) is cls), None)


def save_model(learner, folder, facts: dict) -> Path:
    """Save a fitted ``learner`` (configured for a run) as a model folder; returns the folder.

    Parameters
    ----------
    learner : Learner
        Fitted; its class registered in :data:`autoal.learners.LEARNERS` with ``save_fitted``/``load_fitted``.
    folder : path-like
        The model folder (replaced whole; written under a temporary name first).
    facts : dict
        JSON-able facts about the model for people and for ``autoal predict`` (round, labels, accuracy, ...).

    Raises
    ------
    NotImplementedError
        When the learner cannot be saved (the message says why).
    """
    name = learner_name(learner)
    if name is None:
        raise NotImplementedError(f"{type(learner).__name__} is not registered in autoal.learners.LEARNERS, so a "
                                  "saved model could not be loaded again; register it to save it")
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        state, arrays = learner.save_fitted(tmp)
        bad = [k for k, v in arrays.items() if np.asarray(v).dtype == object]
        if bad:
            raise ValueError(f"{type(learner).__name__}.save_fitted returned object arrays {bad}; save numbers only")
        np.savez(tmp / "arrays.npz", **{k: np.asarray(v) for k, v in arrays.items()})
        features = learner.feature_columns.to_dict() if learner.feature_columns is not None else None
        write_json_atomic(tmp / "model.json", {
            "format": _FORMAT, "format_version": MODEL_FORMAT_VERSION, "learner": name,
            "runs_code": bool(learner.saved_model_runs_code), "classes": list(learner.classes),
            "label": learner.label, "image_col": learner.image_col, "feature_columns": features,
            "random_state": learner.random_state, "saved_at": time.strftime("%Y-%m-%d %H:%M:%S"),
            **facts, "state": state})
        _swap_in(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _swap_in(tmp: Path, folder: Path) -> None:
    """Replace ``folder`` by ``tmp``: the old one renamed away first, removed after."""
    old = folder.with_name(f".{folder.name}.old{os.getpid()}")
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


def model_folder(path, which="run") -> Path:
    """The model folder of ``path``: ``path`` itself when it holds ``model.json``, else a run folder's ``model/``
    (``which="run"``) or ``final-model/`` (``which="final"``)."""
    path = Path(path).expanduser()
    if (path / "model.json").is_file():
        return path
    if which not in ("run", "final"):
        raise InputError(f"which must be 'run' (the run's own learner) or 'final' (autoal train's model), got {which!r}")
    folder = path / (MODEL_DIR if which == "run" else FINAL_MODEL_DIR)
    if (folder / "model.json").is_file():
        return folder
    if not path.is_dir():
        raise InputError(f"{str(path)!r} does not exist; pass a run folder (autoal run --out) or a model folder")
    if which == "final":
        raise InputError(f"{str(path)!r} holds no final model; fit one with `autoal train {path} --learner autogluon`, "
                         "or use the run's own model (leave out --model final / which='final')")
    if (path / "run.sqlite").is_file():
        raise InputError(f"{str(path)!r} holds no saved model yet: a run saves its learner after each finished round "
                         f"(runs made before autoal saved models, or whose learner cannot be saved, have none); "
                         f"`autoal train {path}` fits and saves one from the run's labels")
    raise InputError(f"{str(path)!r} is neither a run folder nor a model folder (no model.json, no run.sqlite)")


def load_model(path, *, which="run") -> "SavedModel":
    """Load a saved model: a run folder's last model (``which="run"``), its final model (``which="final"``, from
    ``autoal train``) or a model folder.

    Parameters
    ----------
    path : path-like
        A run folder or a model folder (holding ``model.json``).
    which : {"run", "final"}
        For a run folder: its own learner after the last round (default), or ``autoal train``'s model.

    Returns
    -------
    SavedModel
        With ``predict_proba(df)``, ``predict(df)`` and ``predictions(df)`` on a DataFrame of image paths.

    Warns
    -----
    UserWarning
        When the model is stored as pickles (AutoGluon's predictors): loading it runs code, so load only your own.
    """
    from autoal.learners import LEARNERS

    folder = model_folder(path, which)
    try:
        info = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{str(folder / 'model.json')!r} is unreadable ({type(exc).__name__}: {exc}); save the model "
                         "again (`autoal train RUN_DIR`)") from exc
    if not isinstance(info, dict) or info.get("format") != _FORMAT:
        raise InputError(f"{str(folder / 'model.json')!r} is not an autoal model description")
    if info.get("format_version", 0) > MODEL_FORMAT_VERSION:
        raise InputError(f"the model in {str(folder)!r} has format version {info['format_version']}, newer than this "
                         f"autoal reads ({MODEL_FORMAT_VERSION}): upgrade autoal")
    if info["learner"] not in LEARNERS:
        raise InputError(f"the model in {str(folder)!r} was saved by learner {info['learner']!r}, which this autoal "
                         f"does not know (known: {', '.join(LEARNERS)})")
    if info.get("runs_code"):
        warnings.warn(f"autoal: the model in {folder} is made of AutoGluon's saved predictors, which are pickles: "
                      "loading it runs code. Load only models you made yourself", UserWarning, stacklevel=2)
    with np.load(folder / "arrays.npz", allow_pickle=False) as stored:
        arrays = {k: stored[k] for k in stored.files}
    learner = LEARNERS[info["learner"]].load_fitted(info["state"], arrays, folder)
    learner.configure(classes=info["classes"], label=info["label"], image_col=info["image_col"], output_dir=None,
                      random_state=info.get("random_state", 0), feature_columns=info.get("feature_columns"))
    return SavedModel(learner, info, folder)


class SavedModel:
    """A loaded model: a fitted learner and what ``model.json`` says about it.

    Attributes
    ----------
    learner : Learner
        The fitted learner (``predict_proba`` columns in :attr:`classes` order).
    classes : list
        The run's classes.
    info : dict
        ``model.json``: the learner's name, round, labels and holdout accuracy it was saved with, and more.
    folder : Path
        The model folder.
    """

    def __init__(self, learner, info: dict, folder: Path):
        self.learner, self.info, self.folder = learner, info, Path(folder)
        self.classes = list(learner.classes)

    def __repr__(self) -> str:
        return (f"SavedModel({self.info['learner']!r}, round {self.info.get('round')}, "
                f"{self.info.get('n_labeled')} labels, {len(self.classes)} classes, {str(self.folder)!r})")

    @property
    def image_col(self):
        """The column of image paths the model reads (the run's)."""
        return self.info["image_col"]

    def _checked(self, df) -> pd.DataFrame:
        """``df`` checked to hold what the model reads: the image column (files that exist) and feature columns."""
        if not isinstance(df, pd.DataFrame):
            raise InputError(f"pass a pandas DataFrame with a {self.image_col!r} column of image paths, got "
                             f"{type(df).__name__}")
        features = self.learner.feature_columns
        needed = ([self.image_col] if self.image_col else []) + (features.used if features is not None else [])
        missing = [c for c in needed if c not in df.columns]
        if missing:
            raise InputError(f"the frame lacks the column(s) {missing} the model reads (it has {list(df.columns)}); "
                             f"name the image paths {self.image_col!r}, as in the run")
        if self.image_col:
            absent = [p for p in df[self.image_col].astype(str) if not Path(p).is_file()]
            if absent:
                raise InputError(f"{len(absent)} image file(s) do not exist, e.g. {absent[:3]}; fix the paths")
        return df

    def predict_proba(self, df) -> np.ndarray:
        """Class probabilities of ``df``'s rows, shape (len(df), len(classes)), columns in :attr:`classes` order."""
        return self.learner.predict_proba(self._checked(df))

    def predict(self, df) -> np.ndarray:
        """The most probable class of each row of ``df`` (an object array of class names)."""
        probs = self.predict_proba(df)
        return np.asarray(self.classes, dtype=object)[probs.argmax(axis=1)] if len(probs) else np.array([], dtype=object)

    def predictions(self, df, *, examples=None) -> pd.DataFrame:
        """A table of predictions: ``example, predicted_label, confidence`` and one ``p_<class>`` column per class.

        Parameters
        ----------
        df : DataFrame
            The rows to predict (the image column, and any feature columns the model reads).
        examples : sequence, optional
            What the ``example`` column says for each row (default: the image paths).
        """
        probs = self.predict_proba(df)
        best = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=int)
        table = pd.DataFrame({
            "example": list(examples) if examples is not None else df[self.image_col].astype(str).tolist(),
            "predicted_label": [self.classes[i] for i in best],
            "confidence": probs[np.arange(len(probs)), best] if len(probs) else np.zeros(0)})
        for k, cls in enumerate(self.classes):
            table[f"p_{cls}"] = probs[:, k]
        return table
