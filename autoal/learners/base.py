"""The Learner interface: ``fit(df) -> self`` and ``predict_proba(df) -> (n, K)`` on the run's classes."""

from __future__ import annotations

import inspect
import shutil
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import pandas as pd

from autoal.errors import InputError

__all__ = ["Learner", "pad_probabilities"]


class Learner(ABC):
    """A model that autoal retrains every round.

    Subclasses store their own options in ``__init__``; :meth:`configure` then gives them the run's
    settings before the first fit. ``predict_proba`` must return one column per entry of
    ``self.classes`` in that order, zeros for classes the model has not seen (:func:`pad_probabilities`).

    After each ``fit``, ``last_fit_info_`` may hold a small dict of facts about that fit (for example
    whether it continued from the previous model); autoal copies it into the run's history.

    A learner whose :meth:`features` returns embeddings sets ``provides_features = True``; autoal then
    uses them for k-means batches and the cold start instead of the default pretrained backbone's.

    The run's feature columns besides the image (:class:`autoal.data.feature_columns.FeatureColumns`: which
    columns are numeric, categorical or text, and their target-free encoding) arrive with
    :meth:`configure` as ``feature_columns``; :meth:`check_features` first tells the run which of them
    this learner can use.

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

    provides_features: bool = False

    classes: list
    label: str = "label"
    image_col: str | None = "image_path"
    feature_columns = None  # FeatureColumns, or None outside a run (a learner may then infer them at fit)
    output_dir: Path | None = None
    random_state: int = 0
    # A fitted learner may set ``last_fit_info_`` (a dict of facts about its last fit, added to the round's
    # history row); there is no class-level default, so no dict is shared between instances.

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

    def check_features(self, features, *, image_col):
        """The feature columns this learner will use, out of the run's ``features`` (before any fit).

        Called once when a run starts, with ``image_col`` None for a run without images. A learner
        returns ``features`` with what it cannot read moved to the excluded ones
        (:meth:`~autoal.data.feature_columns.FeatureColumns.without`, warning when it drops something the
        user may expect to be used) and raises :class:`~autoal.errors.InputError` when it cannot work
        on this data at all, saying what to change. The default uses everything.
        """
        return features

    def features_of(self, df: pd.DataFrame):
        """The run's feature columns; outside a run, decided from ``df`` at the first call and kept."""
        if self.feature_columns is None:
            from autoal.data.feature_columns import plan_features

            self.feature_columns = self.check_features(plan_features(df, label=self.label, image_col=self.image_col),
                                                       image_col=self.image_col)
        return self.feature_columns

    def encoded_features(self, df: pd.DataFrame):
        """``df``'s feature columns as a float matrix (scaled numbers, one-hot categories), or None without any."""
        features = self.features_of(df)
        return features.encode(df) if features.encoded_width else None

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

    def embedding_cache(self) -> Path | None:
        """The folder of the embedding caches this learner reads and writes, or None (recorded with the run)."""
        return None

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

    def features(self, df: pd.DataFrame):
        """Feature vectors of ``df``'s rows for diversity rules (k-means batches, cold start), or None.

        Learners built on embeddings return them, shape (len(df), d), and set ``provides_features``;
        others return None and autoal embeds the images with the default pretrained backbone instead.
        """
        return None

    #: Whether the learner also learns from the unlabelled examples through a graph of the pool; autoal then picks
    #: the first labels for coverage of that graph's space (``initial="coverage"``, :meth:`coverage_space`).
    learns_from_pool: bool = False

    def coverage_space(self, df: pd.DataFrame):
        """``df``'s rows as vectors of the space the learner links the pool in (shape (len(df), d)), where the
        coverage pick measures distance; None when the learner has none (the pick then uses :meth:`features`)."""
        return None

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
