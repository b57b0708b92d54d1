"""A fast learner on frozen pretrained features: cached MobileNetV2 embeddings + logistic regression."""

from __future__ import annotations

import copy
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, MissingDependencyError
from .base import Learner, pad_probabilities

__all__ = ["EmbeddingLearner", "HEADS"]

#: Classifier heads that :class:`EmbeddingLearner` can train on the embeddings.
HEADS = ("logistic", "tabular")
DEFAULT_ARCHITECTURE = "mobilenetv2_100"


class EmbeddingLearner(Learner):
    """Logistic regression on standardised embeddings of a frozen pretrained network.

    Each image is embedded once (by content, see :mod:`autoal.embedding_cache`); later rounds and
    later runs read its vector from a disk cache, so a round costs little more than fitting the head.
    The run's numeric and categorical feature columns are used by either head; text columns are not
    read (a warning says so). The logistic head reads the standardised embeddings joined with the
    encoded columns (scaled numbers, one-hot categories: :meth:`autoal.feature_columns.FeatureColumns.encode`),
    the column block weighted so that it counts as much as the 1,280 image dimensions under the L2
    penalty (:class:`autoal.learners.feature_blocks.BlockScaler`). The tabular head stacks: a logistic regression
    on the embeddings gives out-of-fold class probabilities, and the ``TabularPredictor`` reads those
    beside the raw feature columns (numbers and categories as such), so its models, which standardise
    every column, do not lose a few columns among 1,280 embedding dimensions.

    Parameters
    ----------
    checkpoint : str or Path, optional
        A timm checkpoint folder (``config.json`` + ``pytorch_model.bin``). Default: ImageNet
        MobileNetV2 from :func:`autoal.backbones.pretrained_checkpoint`; when its weights package is
        not installed, randomly initialised MobileNetV2 weights with a warning (much weaker features).
    head : str
        The classifier trained on the embeddings: ``"logistic"`` (scikit-learn logistic regression on
        standardised embeddings; the default, a second or two per round) or ``"tabular"`` (an AutoGluon
        ``TabularPredictor`` on the embedding columns; needs ``autogluon.tabular``).
    tabular_hyperparameters : dict, optional
        Models of the ``"tabular"`` head (AutoGluon's ``hyperparameters``); default
        ``{"LR": {}, "NN_TORCH": {}}``, the model types that need no extra packages.
    time_limit : float, optional
        Seconds per fit of the ``"tabular"`` head.
    image_size : int
        Side of the square each image is resized to before embedding.
    batch_size : int
        Images per forward pass.
    C : float
        Inverse regularisation strength of the logistic regression.
    cache_dir : str or Path, optional
        Folder under which one cache per backbone (``<cache_dir>/<backbone id>/``) is kept. Default:
        ``<output_dir>/embeddings`` when the run has an output folder, else
        ``$AUTOAL_CACHE_DIR/embeddings`` or ``~/.cache/autoal/embeddings``.
    """

    provides_features = True

    def __init__(self, *, checkpoint=None, head="logistic", image_size=128, batch_size=32, C=1.0, cache_dir=None,
                 tabular_hyperparameters=None, time_limit=None):
        self.checkpoint = checkpoint
        self.head = head
        self.tabular_hyperparameters = tabular_hyperparameters
        self.time_limit = time_limit
        self.image_size = image_size
        self.batch_size = batch_size
        self.C = C
        self.cache_dir = cache_dir
        self._embedder = None
        self._cache = None
        self._shared_cache_root = None

    def _check_head(self) -> None:
        if self.head not in HEADS:
            raise InputError(f"unknown head {self.head!r} for the embeddings learner; choose one of {', '.join(HEADS)}")

    def configure(self, **settings) -> "EmbeddingLearner":
        self._check_head()
        return super().configure(**settings)

    def check_features(self, features, *, image_col):
        """Numeric and categorical columns; text columns are left out with a warning. Needs an image column."""
        if image_col is None:
            raise InputError("the embeddings learner embeds images, and image_col=None means there are none; use "
                             "learner='tabular' (the default without images) or learner='autogluon' for a table")
        if features.text:
            names = list(features.text)
            why = ("free text, which the embeddings learner does not read; use learner='autogluon' with "
                   "learner_options={'text_checkpoint': PATH} (a local Hugging Face checkpoint folder) to use it")
            warnings.warn(f"autoal: text columns {names} are not used: {why}", UserWarning, stacklevel=3)
            features = features.without(names, why)
        return features

    # -- embeddings -------------------------------------------------------------------------------

    def _checkpoint_dir(self) -> Path:
        from ..backbones import pretrained_checkpoint, random_init_checkpoint

        if self.checkpoint is not None:
            return Path(self.checkpoint)
        try:
            return pretrained_checkpoint(DEFAULT_ARCHITECTURE)
        except MissingDependencyError as exc:
            warnings.warn(f"autoal: {exc}; the embeddings learner falls back to randomly initialised "
                          f"{DEFAULT_ARCHITECTURE} weights (much weaker features)", RuntimeWarning, stacklevel=4)
            return random_init_checkpoint(DEFAULT_ARCHITECTURE)

    @property
    def embedder(self):
        """The :class:`~autoal.embeddings.Embedder` (built on first use)."""
        if self._embedder is None:
            from ..embeddings import Embedder

            self._embedder = Embedder(self._checkpoint_dir(), image_size=self.image_size, batch_size=self.batch_size)
        return self._embedder

    def cache_root(self) -> Path:
        """The folder holding one embedding cache per backbone."""
        from ..embeddings import default_embedding_dir

        if self._shared_cache_root is not None:
            return self._shared_cache_root
        if self.cache_dir is not None:
            return Path(self.cache_dir).expanduser()
        if self.output_dir is not None:
            return Path(self.output_dir) / "embeddings"
        return default_embedding_dir()

    @property
    def cache(self):
        """The :class:`~autoal.embedding_cache.EmbeddingCache` of this learner's backbone (opened on first use)."""
        if self._cache is None:
            from ..embedding_cache import EmbeddingCache

            embedder = self.embedder
            folder = self.cache_root() / re.sub(r"[^A-Za-z0-9_.-]", "_", embedder.backbone_id)
            self._cache = EmbeddingCache(folder, embedder.backbone_id, embedder.num_features)
        return self._cache

    def _embed(self, df: pd.DataFrame, stats=None, embed=None) -> np.ndarray:
        from ..embeddings import embed_paths

        return embed_paths(df[self.image_col].tolist(), self.embedder, self.cache, stats=stats, embed=embed)

    def _inputs(self, df: pd.DataFrame, stats=None, embed=None) -> np.ndarray:
        """What the logistic head reads: the images' embeddings, then the encoded feature columns."""
        x = self._embed(df, stats, embed)
        columns = self.encoded_features(df)
        return x if columns is None else np.hstack([x, columns])

    def _raw_columns(self, df: pd.DataFrame):
        """The feature columns as the tabular head's TabularPredictor reads them, or None when there are none."""
        from .tabular import tabular_frame

        features = self.features_of(df)
        return tabular_frame(features, df) if features.used else None

    # -- Learner ----------------------------------------------------------------------------------

    def fit(self, df: pd.DataFrame) -> "EmbeddingLearner":
        self._check_head()
        stats = {}
        y = df[self.label].to_numpy()
        labels = list(dict.fromkeys(y.tolist()))
        if self.head == "tabular":
            x = self._embed(df, stats)
        else:
            x = self._inputs(df, stats)
        if len(labels) == 1:  # a classifier needs two classes; one class is certain
            self.model_, self.classes_ = None, labels
        elif self.head == "tabular":
            self.model_ = _TabularHead(self._tabular_path(), self.tabular_hyperparameters, self.time_limit,
                                       self.random_state, image_model=self._logistic(x.shape[1])).fit(
                x, y, self._raw_columns(df))
            self.classes_ = self.model_.classes_
        else:
            self.model_ = self._logistic(self.embedder.num_features).fit(x, y)
            self.classes_ = self.model_.classes_.tolist()
        self.last_fit_info_ = {"n_train": len(df), "embed_seconds": round(stats["seconds"], 3),
                               "cache_hits": stats["hits"], "n_embedded": stats["embedded"]}
        return self

    def _logistic(self, n_image):
        """Logistic regression on the first ``n_image`` columns (embeddings) and the encoded feature columns
        after them, block-weighted (:class:`~autoal.learners.feature_blocks.BlockScaler`; exactly StandardScaler
        without feature columns)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        from .feature_blocks import BlockScaler

        return make_pipeline(BlockScaler(n_image), LogisticRegression(C=self.C, max_iter=2000,
                                                                      random_state=self.random_state))

    def _tabular_path(self) -> Path:
        import tempfile

        base = Path(self.output_dir) if self.output_dir is not None else Path(tempfile.mkdtemp(prefix="autoal-tabular-"))
        self._n_tabular_fits = getattr(self, "_n_tabular_fits", 0) + 1
        return base / "models" / f"tabular_{self._n_tabular_fits:02d}"

    def predict_proba(self, df: pd.DataFrame, *, embed=None) -> np.ndarray:
        """Class probabilities of ``df``'s images, shape (len(df), len(self.classes)).

        Parameters
        ----------
        embed : callable, optional
            Computes the embeddings of images missing from the cache (list of paths -> float32 array,
            see :func:`~autoal.embeddings.embed_paths`); default: this process's network.
            :func:`autoal.scoring.predict_pool` passes one that spreads the work over Ray workers.
        """
        if self.model_ is None:
            self._embed(df, embed=embed)  # unreadable images still fail here, as with a model
            probs = np.ones((len(df), 1))
        elif self.head == "tabular":
            probs = self.model_.predict_proba(self._embed(df, embed=embed), self._raw_columns(df))
        else:
            probs = self.model_.predict_proba(self._inputs(df, embed=embed))
        return pad_probabilities(probs, self.classes_, self.classes)

    def features(self, df: pd.DataFrame) -> np.ndarray:
        """The cached embeddings of ``df``'s images (computed for images not yet in the cache), joined with its
        encoded feature columns (:func:`autoal.learners.feature_blocks.join_blocks`: each block weighs the same)."""
        from .feature_blocks import join_blocks

        return join_blocks(self._embed(df), self.encoded_features(df))

    def clone(self, *, subdir="clone") -> "EmbeddingLearner":
        """A fresh, unfitted twin that shares this learner's network and embedding cache."""
        twin = super().clone(subdir=subdir)
        twin._shared_cache_root = self.cache_root()
        twin._embedder, twin._cache = self._embedder, self._cache
        return twin

    def worker_copy(self) -> "EmbeddingLearner":
        """A copy without the network and the cache handle, its checkpoint fixed to this learner's folder.

        A worker rebuilds the network from the checkpoint folder on first use (which must be readable
        there); only the driver writes the cache.
        """
        twin = copy.copy(self)
        twin.checkpoint = str(self.embedder.checkpoint_dir)
        twin._embedder = twin._cache = None
        return twin

    def close(self) -> None:
        """Drop the network and the cache mapping (both are rebuilt on next use)."""
        self._embedder = self._cache = None


class _TabularHead:
    """An AutoGluon ``TabularPredictor`` on embedding columns with a scikit-learn-like face.

    With feature columns (``columns`` given to :meth:`fit`), it stacks: ``image_model`` (logistic
    regression on the embeddings) gives out-of-fold class probabilities on the training rows (its
    full fit's on new rows), and the predictor reads those K columns beside the feature columns.
    """

    def __init__(self, path, hyperparameters, time_limit, seed, image_model=None):
        self.path, self.time_limit, self.seed = Path(path), time_limit, seed
        self.hyperparameters = hyperparameters or {"LR": {}, "NN_TORCH": {}}
        self.image_model = image_model

    @staticmethod
    def _frame(x, prefix="e") -> pd.DataFrame:
        return pd.DataFrame(np.asarray(x, dtype=np.float32), columns=[f"{prefix}{k}" for k in range(x.shape[1])])

    def _table(self, x, columns, probs=None) -> pd.DataFrame:
        if columns is None:
            return self._frame(x)
        probs = self.image_model_.predict_proba(x) if probs is None else probs
        return pd.concat([self._frame(probs, prefix="__image_p"), columns.reset_index(drop=True)], axis=1)

    def _out_of_fold(self, x, y) -> np.ndarray:
        """The image model's out-of-fold probabilities (stratified folds, fewer when a class has fewer than 3
        labels; in-sample when one has a single label), in ``image_model_.classes_`` order."""
        from sklearn.base import clone
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        smallest = int(pd.Series(y).value_counts().min())
        if smallest < 2:
            return self.image_model_.predict_proba(x)
        folds = StratifiedKFold(min(3, smallest), shuffle=True, random_state=self.seed)
        return cross_val_predict(clone(self.image_model), x, y, cv=folds, method="predict_proba")

    def fit(self, x, y, columns=None) -> "_TabularHead":
        try:
            from autogluon.tabular import TabularPredictor
        except ImportError as exc:
            raise MissingDependencyError(f"head='tabular' needs autogluon.tabular ({exc}); install it with "
                                         "`pip install autogluon.tabular` or use head='logistic'") from exc
        probs = None
        if columns is not None:
            self.image_model_ = self.image_model.fit(x, y)
            probs = self._out_of_fold(x, y)
        train = self._table(x, columns, probs).assign(__autoal_label__=np.asarray(y, dtype=object))
        problem = "binary" if len(set(train["__autoal_label__"])) == 2 else "multiclass"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # label_count_threshold=1: AutoGluon otherwise may ignore classes with fewer than 10 labels
            self.predictor_ = TabularPredictor(label="__autoal_label__", problem_type=problem, path=str(self.path),
                                               verbosity=0, learner_kwargs={"label_count_threshold": 1})
            self.predictor_.fit(train, hyperparameters=self.hyperparameters, time_limit=self.time_limit)
        self.classes_ = list(self.predictor_.class_labels)
        return self

    def predict_proba(self, x, columns=None) -> np.ndarray:
        probs = self.predictor_.predict_proba(self._table(x, columns), as_multiclass=True)
        return probs[self.classes_].to_numpy()
