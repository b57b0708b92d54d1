"""Active learning on a table: an AutoGluon ``TabularPredictor`` on the run's feature columns, retrained every round."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from autoal.errors import InputError, MissingDependencyError
from autoal.learners.base import Learner, pad_probabilities

__all__ = ["TabularLearner", "DEFAULT_TABULAR_MODELS", "tabular_frame"]

#: The default ``TabularPredictor`` model: extra trees (scikit-learn, no extra package). Measured on the
#: Satellite table (6 classes, 12 to 1,000 labels, 3 draws each): as accurate as random forest and as both
#: together (0.672/0.823/0.856/0.876 against 0.670/0.813/0.855/0.879 for both), in half the time (~2 s a fit
#: on 2 cores). One model also keeps rounds reproducible: with two, AutoGluon breaks ties between equal
#: validation scores (frequent on a handful of labels) by timings, so the same labels could give another model.
DEFAULT_TABULAR_MODELS = {"XT": {}}
_LABEL = "__autoal_label__"


class TabularLearner(Learner):
    """AutoGluon ``TabularPredictor`` on the numeric, categorical and text columns (no image needed).

    The run's :class:`~autoal.data.feature_columns.FeatureColumns` say which columns are read and of which
    kind: numeric columns as numbers, categorical ones as categories, text columns through AutoGluon's
    own n-gram features (nothing is downloaded). The image column, if any, is not read. Its
    :meth:`embeddings` (for k-means batches and the cold start) are the scaled numeric and one-hot
    categorical columns.

    Parameters
    ----------
    hyperparameters : dict, optional
        AutoGluon's ``hyperparameters`` (model types and their settings); default
        :data:`DEFAULT_TABULAR_MODELS`. ``{"GBM": {}}`` and others need their packages (e.g. ``pip install
        lightgbm``).
    presets : str, optional
        AutoGluon presets.
    time_limit : float, optional
        Seconds per fit.
    refit_full : bool
        After fitting (AutoGluon holds out part of the labels to validate and weight its models), refit
        the chosen models on every labelled row (default; with few labels the held-out rows matter).
    keep_models : bool
        Keep every round's predictor folder, or (default) only the latest.
    """

    def __init__(self, *, hyperparameters=None, presets=None, time_limit=None, refit_full=True, keep_models=False):
        self.hyperparameters = hyperparameters
        self.presets = presets
        self.time_limit = time_limit
        self.refit_full = refit_full
        self.keep_models = keep_models
        self.predictor_ = None
        self.model_classes_ = None  # the fitted classes, in the predictor's column order

    # -- columns ------------------------------------------------------------------------------------

    def usable_feature_columns(self, columns, *, image_col):
        """Every feature column; InputError when there is none."""
        if not columns.used:
            left = "; ".join(f"{n!r} ({why})" for n, why in columns.excluded) or "none"
            raise InputError(
                f"the tabular learner needs feature columns, but df has none it can use besides the label (left out: "
                f"{left}); add feature columns, or name the ones to use with feature_cols=[...]")
        return columns

    def _table(self, df: pd.DataFrame) -> pd.DataFrame:
        return tabular_frame(self.feature_columns_of(df), df)

    # -- Learner ------------------------------------------------------------------------------------

    def _save_path(self) -> Path:
        base = self.output_dir if self.output_dir is not None else Path(tempfile.mkdtemp(prefix="autoal-tabular-"))
        folder = Path(base) / "models"
        taken = [int(p.name[8:]) for p in folder.glob("tabular_*") if p.name[8:].isdigit()] if folder.exists() else []
        return folder / f"tabular_{max(taken, default=-1) + 1:02d}"

    def fit(self, df: pd.DataFrame) -> "TabularLearner":
        try:
            from autogluon.tabular import TabularPredictor
        except ImportError as exc:
            raise MissingDependencyError(f"the tabular learner needs autogluon.tabular ({exc}); install it with "
                                         "`pip install 'autogluon.tabular>=1.6,<1.7'`") from exc
        labels = df[self.label].tolist()
        classes = list(dict.fromkeys(labels))
        previous = self.predictor_
        self.predictor_, self.model_classes_ = None, classes
        info = {"n_train": len(df)}
        if len(classes) > 1:  # one class needs no model: it is certain
            train = self._table(df).assign(**{_LABEL: labels})
            path = self._save_path()
            refit, extra = self.refit_full, {}
            if max(labels.count(c) for c in classes) < 2:
                # one row per class: AutoGluon cannot hold any out to validate (it raises); validate on the rows
                refit, extra = False, {"tuning_data": train}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                predictor = TabularPredictor(label=_LABEL, problem_type="binary" if len(classes) == 2 else "multiclass",
                                             eval_metric="accuracy", path=str(path), verbosity=0,
                                             learner_kwargs={"label_count_threshold": 1})
                # label_count_threshold=1: AutoGluon otherwise ignores classes with fewer than 10 labels
                predictor.fit(train, hyperparameters=self.hyperparameters or DEFAULT_TABULAR_MODELS,
                              presets=self.presets, time_limit=self.time_limit, refit_full=refit,
                              set_best_to_refit_full=refit, **extra)
            self.predictor_ = predictor
            self.model_classes_ = list(predictor.class_labels)
            info.update(model=predictor.model_best, model_dir=str(path))
        if previous is not None and not self.keep_models:
            shutil.rmtree(previous.path, ignore_errors=True)
        self.last_fit_info_ = info
        return self

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        if self.predictor_ is None:
            probs = np.ones((len(df), 1))
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                frame = self.predictor_.predict_proba(self._table(df), as_multiclass=True)
            probs = frame[self.model_classes_].to_numpy()
        return pad_probabilities(probs, self.model_classes_, self.classes)

    #: AutoGluon saves its predictors with pickle: loading a saved tabular model runs code.
    saved_model_runs_code = True

    def save_fitted(self, folder) -> tuple:
        """The ``TabularPredictor``'s own folder, hard-linked into ``predictor/`` (loading it runs code: AutoGluon
        pickles), and the class order; no folder when one class was labelled (a certain model)."""
        from autoal.common.json_values import json_value
        from autoal.learners.saved_state import link_tree

        if self.predictor_ is not None:
            link_tree(self.predictor_.path, Path(folder) / "predictor")
        return {"predictor": "predictor" if self.predictor_ is not None else None,
                "model_classes_": json_value(self.model_classes_)}, {}

    @classmethod
    def load_fitted(cls, state: dict, arrays: dict, folder) -> "TabularLearner":
        learner = cls()
        learner.model_classes_ = list(state["model_classes_"])
        if state["predictor"] is not None:
            from autogluon.tabular import TabularPredictor

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                learner.predictor_ = TabularPredictor.load(str(Path(folder) / state["predictor"]), verbosity=0,
                                                           require_py_version_match=False)
        return learner

    def embeddings(self, df: pd.DataFrame) -> np.ndarray:
        """The scaled numeric and one-hot categorical columns of ``df``, shape (len(df), d) (see
        :meth:`autoal.data.feature_columns.FeatureColumns.encode`); for a table of text columns only, their
        hashed word counts (scikit-learn's ``HashingVectorizer``, 256 per column, L2-normalised)."""
        plan = self.feature_columns_of(df)
        if plan.encoded_width:
            return plan.encode(df)
        from sklearn.feature_extraction.text import HashingVectorizer

        hasher = HashingVectorizer(n_features=256, alternate_sign=False)
        return np.hstack([hasher.transform(df[n].fillna("").astype(str)).toarray() for n in plan.text]).astype(np.float32)

    def fold_learner(self) -> "TabularLearner":
        """The K fold models of ``oos="cross_val"``: the same models without the refit on all rows (a fold
        model's probabilities only score; about half the fit time)."""
        if not self.refit_full:
            return self
        twin = TabularLearner(hyperparameters=self.hyperparameters, presets=self.presets, time_limit=self.time_limit,
                              refit_full=False, keep_models=self.keep_models)
        return twin.configure(classes=self.classes, label=self.label, image_col=self.image_col,
                              output_dir=self.output_dir, random_state=self.random_state,
                              feature_columns=self.feature_columns)


def tabular_frame(plan, df: pd.DataFrame) -> pd.DataFrame:
    """The feature columns of ``df`` as a TabularPredictor should see them, by string names (index kept):
    numeric columns as float64, categorical ones as pandas categories of their text, text as strings.

    Parameters
    ----------
    plan : FeatureColumns
        Which columns, of which kind.
    df : DataFrame
        Rows holding every column of ``plan``.
    """
    missing = [n for n in plan.used if n not in df.columns]
    if missing:
        raise InputError(f"the data lacks the run's feature columns {missing[:5]}; pass rows with every column "
                         "the run was started with")
    out = {}
    for name, _, _ in plan.numeric:
        out[str(name)] = pd.to_numeric(df[name], errors="coerce").astype(np.float64)
    for name, _ in plan.categorical:
        out[str(name)] = df[name].astype(object).where(df[name].notna(), None).map(
            lambda v: None if v is None else str(v)).astype("category")
    for name in plan.text:
        out[str(name)] = df[name].astype(object).where(df[name].notna(), "").astype(str)
    if len(out) != len(plan.used):
        raise InputError(f"feature columns {plan.used} have the same name as text; rename them so that each "
                         "column's name is distinct as text")
    return pd.DataFrame(out, index=df.index)
