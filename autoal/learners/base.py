"""The Learner interface: ``fit(df) -> self`` and ``predict_proba(df) -> (n, K)`` on the run's classes.

Words used for a learner's inputs, one for each thing:

- **feature columns**: the table's columns besides the image and the label, each numeric, categorical or text
  (a :class:`~autoal.data.feature_columns.FeatureColumns`, the attribute :attr:`Learner.feature_columns`).
  :meth:`Learner.usable_feature_columns` narrows the run's to those a learner reads;
  :meth:`Learner.feature_columns_of` gives them (planned from the rows outside a run);
  :meth:`Learner.encoded_feature_columns` gives them as a float matrix (scaled numbers, one-hot categories).
- **embeddings**: a vector per example for the diversity rules (k-means batches, the cold start), from a learner's
  :meth:`embeddings <Learner.embeddings>` when it makes its own, else from the default pretrained backbone
  (:mod:`autoal.learners.embedding_source`).
- **population**: every example of a run, labelled or not, labels removed (:meth:`Learner.set_population`).
"""

from __future__ import annotations

import inspect
import shutil
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from autoal.errors import InputError

__all__ = ["Learner", "pad_probabilities"]


class Learner(ABC):
    """A model that autoal retrains every round.

    A run's learner is an instance of a subclass (:func:`autoal.learners.check_learner_choice` refuses anything
    else). Subclasses store their own options in ``__init__`` under the arguments' names (scikit-learn's
    convention, which :meth:`clone` relies on) and set there every attribute they keep (fitted ones as None). The
    run's settings below have class-level defaults until :meth:`configure` gives them before the first fit.
    ``predict_proba`` must return one column per entry of ``self.classes`` in that order, zeros for classes the
    model has not seen (:func:`pad_probabilities`).

    Besides :meth:`fit` and :meth:`predict_proba`, a learner may override these (each has a default):

    - :meth:`usable_feature_columns`: which of the run's feature columns it reads (before any fit);
    - :meth:`resolve_options`: options it decides from the run's examples (``"auto"``), stored with the run;
    - :meth:`set_population`: every example of the run, before the first fit;
    - :attr:`embeddings`: a method ``embeddings(df) -> (len(df), d)`` when it makes its own vectors for the
      diversity rules (the default, None, lets autoal embed the images with its pretrained backbone);
    - :meth:`fold_learner`, :meth:`worker_copy`, :meth:`close`: a cheaper stand-in for the fold models, a copy to
      predict in another process, releasing resources;
    - :meth:`save_fitted` and :meth:`load_fitted` (with :attr:`saved_model_runs_code`): saving, below.

    After each ``fit``, ``last_fit_info_`` may hold a small dict of facts about that fit (for example whether it
    continued from the previous model); autoal copies it into the run's history.

    **Saving** (the hook behind ``RUN_DIR/model/``, :func:`autoal.load_model` and ``autoal predict``): a run saves
    its learner after every round by calling :meth:`save_fitted`, which returns the fitted state as plain values,
    ``(state, arrays)``: a JSON-able dict and a dict of numeric numpy arrays (written to ``arrays.npz``, read back
    with ``allow_pickle=False``), and may write more files into the folder it is given (network weights as
    safetensors). Loading calls the classmethod :meth:`load_fitted` of the class registered under the learner's
    name in :data:`autoal.learners.LEARNERS` with the same values and folder; the run's settings (classes,
    columns, seed) are restored by :meth:`configure` afterwards. A new learner adds its name to ``LEARNERS`` and
    these two methods, e.g.::

        def save_fitted(self, folder):
            return {"C": self.C, "classes_": list(self.classes_)}, {"coef": self.coef_, "intercept": self.intercept_}

        @classmethod
        def load_fitted(cls, state, arrays, folder):
            learner = cls(C=state["C"])
            learner.classes_, learner.coef_, learner.intercept_ = state["classes_"], arrays["coef"], arrays["intercept"]
            return learner

    Nothing saved this way runs code when loaded. A learner whose model only exists as another library's pickled
    files (AutoGluon's predictors) sets ``saved_model_runs_code = True``: loading it then warns that it runs code.
    A learner without these methods is not saved (the run says so once).
    """

    #: Whether loading this learner's saved model runs code (True for models saved by AutoGluon, which pickles).
    saved_model_runs_code: bool = False

    #: None, or a method ``embeddings(df) -> ndarray (len(df), d)``: this learner's own vectors of ``df``'s rows for
    #: the diversity rules (k-means batches, the cold start). With None, autoal embeds the images with its default
    #: pretrained backbone (:mod:`autoal.learners.embedding_source`), or encodes the feature columns of a table.
    embeddings = None

    # The run's settings (:meth:`configure`).
    classes: list | tuple = ()
    label: str = "label"
    image_col: str | None = "image_path"
    feature_columns = None  # FeatureColumns, or None outside a run (a learner may then infer them at fit)
    output_dir: Path | None = None
    random_state: int = 0
    #: Facts about the last fit (a dict a learner sets in ``fit``), added to the round's history row; empty before.
    last_fit_info_: Mapping = MappingProxyType({})

    def configure(self, *, classes, label="label", image_col="image_path", output_dir=None, random_state=0,
                  feature_columns=None):
        """Give the learner the run's fixed class list, column names, output folder, seed and feature columns
        (a :class:`~autoal.data.feature_columns.FeatureColumns` or its ``to_dict()``); returns self."""
        from autoal.data.feature_columns import FeatureColumns

        self.classes = list(classes)
        self.label = label
        self.image_col = image_col
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.random_state = random_state
        self.feature_columns = FeatureColumns.from_dict(feature_columns)
        return self

    def usable_feature_columns(self, columns, *, image_col):
        """The feature columns this learner will read, out of the run's ``columns`` (before any fit).

        Called once when a run starts, with ``image_col`` None for a run without images. A learner
        returns ``columns`` with what it cannot read moved to the excluded ones
        (:meth:`~autoal.data.feature_columns.FeatureColumns.without`, warning when it drops something the
        user may expect to be used) and raises :class:`~autoal.errors.InputError` when it cannot work
        on this data at all, saying what to change. The default reads everything.
        """
        return columns

    def feature_columns_of(self, df: pd.DataFrame):
        """The run's feature columns; outside a run, decided from ``df`` at the first call and kept."""
        if self.feature_columns is None:
            from autoal.data.feature_columns import plan_features

            self.feature_columns = self.usable_feature_columns(
                plan_features(df, label=self.label, image_col=self.image_col), image_col=self.image_col)
        return self.feature_columns

    def encoded_feature_columns(self, df: pd.DataFrame):
        """``df``'s feature columns as a float matrix (scaled numbers, one-hot categories), or None without any."""
        columns = self.feature_columns_of(df)
        return columns.encode(df) if columns.encoded_width else None

    @abstractmethod
    def fit(self, df: pd.DataFrame) -> "Learner":
        """Train on ``df`` (features plus the label column, every label in ``self.classes``); returns self."""

    @abstractmethod
    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        """Predicted probabilities, shape (len(df), len(self.classes)), rows summing to 1."""

    def close(self) -> None:
        """Release resources held between rounds (optional)."""

    def save_fitted(self, folder: Path) -> tuple:
        """The fitted state as ``(state, arrays)`` (see the class docstring, "Saving"); may write files into
        ``folder`` (an empty folder that becomes part of the saved model).

        Raises
        ------
        NotImplementedError
            This learner cannot be saved (the default).
        """
        raise NotImplementedError(f"{type(self).__name__} has no save_fitted/load_fitted, so its fitted model is not "
                                  "saved (see autoal.Learner's docstring, 'Saving')")

    @classmethod
    def load_fitted(cls, state: dict, arrays: dict, folder: Path) -> "Learner":
        """A fitted learner rebuilt from what :meth:`save_fitted` returned and wrote into ``folder`` (not configured:
        the caller restores the run's settings with :meth:`configure`)."""
        raise NotImplementedError(f"{cls.__name__} cannot load a saved model: it has no load_fitted")

    def resolve_options(self, df: pd.DataFrame) -> dict:
        """Options this learner decides from the data (given as ``"auto"``), decided from ``df``'s rows and kept:
        ``{name: value}``. A run calls this once with its pool and stores the answer with its
        ``learner_options``. Default: nothing to decide, ``{}``."""
        return {}

    def set_population(self, frame: pd.DataFrame) -> None:
        """Called once by a run before its first fit with every example it holds (labels removed). A learner may
        derive label-free facts from them (the embeddings learner standardises by their statistics); clones share
        them. Default: ignored."""

    def worker_copy(self) -> "Learner":
        """A picklable copy of this fitted learner for ``predict_proba`` in another process.

        :mod:`autoal.rounds.pool_prediction` sends it to Ray workers, so it should be cheap to pickle: override to drop
        caches and handles that a worker can rebuild. The default returns ``self``.
        """
        return self

    def fold_learner(self) -> "Learner":
        """The learner whose clones are trained as the K fold models of ``oos="cross_val"`` (out-of-sample
        probabilities for labelled examples and averaged pool scores). Default: this learner; a
        learner too costly to fit K times a round returns a cheaper stand-in."""
        return self

    def get_params(self, deep=True) -> dict:
        """The constructor arguments, read back from attributes of the same names (scikit-learn's contract).

        Not inherited from ``sklearn.base.BaseEstimator``: importing scikit-learn would add about a second to
        ``import autoal``; :meth:`clone` uses scikit-learn's ``clone`` (imported when called) on this.
        """
        names = [p for p in inspect.signature(type(self).__init__).parameters if p not in ("self", "args", "kwargs")]
        return {name: getattr(self, name) for name in names}

    def clone(self, *, subdir="clone") -> "Learner":
        """A fresh, unfitted learner with the same parameters (``sklearn.base.clone``) and run settings; its files
        go under ``output_dir/subdir`` (emptied first)."""
        from sklearn.base import clone

        try:
            twin = clone(self)
        except (RuntimeError, AttributeError) as exc:
            raise InputError(f"cannot clone {type(self).__name__} for the fold models: {exc}. A Learner's __init__ must "
                             "store each argument unchanged under an attribute of the same name (scikit-learn's "
                             "convention), e.g. self.layers = layers") from exc
        output_dir = None
        if self.output_dir is not None:
            output_dir = self.output_dir / subdir
            shutil.rmtree(output_dir, ignore_errors=True)
        return twin.configure(classes=self.classes, label=self.label, image_col=self.image_col,
                              output_dir=output_dir, random_state=self.random_state,
                              feature_columns=self.feature_columns)


def pad_probabilities(probs, model_classes, classes) -> np.ndarray:
    """Place a model's probability columns on the run's full class list, zeros for unseen classes.

    Parameters
    ----------
    probs : array-like, shape (n, k)
        Probabilities whose columns follow ``model_classes``.
    model_classes : sequence of length k
        The classes the model knows, in column order.
    classes : sequence of length K
        The run's class list (a superset of ``model_classes``).

    Returns
    -------
    ndarray, shape (n, K)
    """
    probs = np.asarray(probs, dtype=float)
    position = {c: i for i, c in enumerate(classes)}
    unknown = [c for c in model_classes if c not in position]
    if unknown:
        raise InputError(f"the learner predicts classes outside the run's class list {list(classes)}: {unknown}; "
                         "a Learner must return one column per class of the run, in its order")
    out = np.zeros((probs.shape[0], len(classes)), dtype=float)
    out[:, [position[c] for c in model_classes]] = probs
    return out
