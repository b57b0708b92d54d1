"""A fast learner on frozen pretrained features: cached embeddings of one or more networks + logistic regression."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from autoal.common.checks import POSITIVE_INT, Interval, Real, StrOptions, check_option
from autoal.common.json_values import plain_scalar
from autoal.common.threads import one_blas_thread
from autoal.errors import InputError
from autoal.learners.base import Learner, pad_probabilities

__all__ = ["EmbeddingLearner", "HEADS", "STANDARDISE_ON", "STATISTICS_SAMPLE", "PENALTY_LABELS"]

#: Classifier heads that :class:`EmbeddingLearner` can train on the embeddings.
HEADS = ("logistic", "tabular")
#: Whose statistics standardise the embeddings (:class:`EmbeddingLearner`'s ``standardise_on``).
STANDARDISE_ON = ("run", "labelled")
#: The run's statistics are measured on at most this many of its examples (a seeded sample of bigger runs).
STATISTICS_SAMPLE = 20_000
#: ``C="auto"``: the logistic regression's ``C`` is ``min(1, PENALTY_LABELS / n)`` for a fit on ``n`` labels.
PENALTY_LABELS = 100


class EmbeddingLearner(Learner):
    """Logistic regression on standardised embeddings of one or more frozen pretrained networks.

    Each image is embedded once per backbone (by content, see :mod:`autoal.vision.cache`); later
    rounds and later runs read its vectors from a disk cache per backbone, so a round costs little more
    than fitting the head. With several backbones, each image's vectors are joined side by side (the
    head standardises every dimension; for distances each backbone's block is scaled to the same
    spread). The run's numeric and categorical feature columns are used by either head; text columns are not
    read (a warning says so). The logistic head reads the standardised embeddings joined with the
    encoded columns (scaled numbers, one-hot categories: :meth:`autoal.data.feature_columns.FeatureColumns.encode`),
    the column block weighted so that it counts as much as the image dimensions under the L2
    penalty (:class:`autoal.learners.feature_blocks.BlockScaler`). The tabular head stacks: a logistic regression
    on the embeddings gives out-of-fold class probabilities, and the ``TabularPredictor`` reads those
    beside the raw feature columns (numbers and categories as such), so its models, which standardise
    every column, do not lose a few columns among thousands of embedding dimensions.

    Parameters
    ----------
    backbones : list of str or Path, optional
        The networks to embed with, each a packaged pretrained name (a key of
        :data:`autoal.vision.backbones.PRETRAINED_SOURCES`: ``"mobilenetv2_100"``, ``"tf_efficientnet_lite0"``,
        ``"tf_efficientnet_lite2"``) or a timm checkpoint folder (``config.json`` + ``pytorch_model.bin``).
        Default :data:`~autoal.learners.embedding_backbones.DEFAULT_BACKBONES` (those whose package is installed;
        randomly initialised MobileNetV2 weights with a warning when none is, much weaker features).
    checkpoint : str or Path, optional
        One timm checkpoint folder: the same as ``backbones=[checkpoint]``.
    head : str
        The classifier trained on the embeddings: ``"logistic"`` (scikit-learn logistic regression on
        standardised embeddings; the default, a second or two per round) or ``"tabular"`` (an AutoGluon
        ``TabularPredictor`` on the embedding columns; needs ``autogluon.tabular``).
    tabular_hyperparameters : dict, optional
        Models of the ``"tabular"`` head (AutoGluon's ``hyperparameters``); default
        ``{"LR": {}, "NN_TORCH": {}}``, the model types that need no extra packages.
    time_limit : float, optional
        Seconds per fit of the ``"tabular"`` head.
    image_size : int or "auto"
        Side of the square each image is resized to before embedding. ``"auto"`` (the default): 224 px
        when the images are photos at least that large on their shorter side, else 160 px
        (:func:`autoal.vision.image_size.embedding_image_size`), decided from the first images this
        learner embeds (a run decides from its whole pool and stores the choice:
        :meth:`resolve_options`). The parameter keeps the value given; the decision is kept beside it.
    batch_size : int
        Images per forward pass.
    C : float or "auto"
        Inverse regularisation strength of the logistic regression. ``"auto"`` (the default): 1 up to
        :data:`PENALTY_LABELS` (100) labels, then ``100 / n`` for a fit on ``n`` labels, so that the penalty per
        labelled example stays the same as labels grow (scikit-learn's ``C`` weighs the summed loss: a fixed ``C``
        lets the penalty fade). Measured in benchmarks/RESULTS.md ("Backbones: several frozen networks against
        fine-tuning", the paragraph on ``C``): more accurate with many random labels, the active-learning curves
        within the spread of seeds, fits slower (lbfgs needs more iterations). ``C=1.0`` was the default before;
        runs stored with it keep it when resumed.
    standardise_on : {"run", "labelled"}
        Whose means and standard deviations standardise the embeddings for the logistic regression. ``"run"``
        (the default): every example of the run, labelled or not (a seeded sample of
        :data:`STATISTICS_SAMPLE` in bigger runs), given by :meth:`set_population`; no labels are read, and
        outside a run (no population given) the labelled rows are used. ``"labelled"``: the rows of each fit,
        the default before (runs stored with it keep it when resumed). A labelled set chosen by active learning is
        not a fair sample of the pool (typical examples first, then the most uncertain), and its own statistics
        skew the features; the run's lift the default strategy's curve on Fashion-MNIST (from its first round) and
        cut the labels it needs to reach random's final accuracy, while random label sets, which are fair samples,
        barely change (benchmarks/RESULTS.md, "Backbones: several frozen networks against fine-tuning", the
        paragraph on the run's examples).
    cache_dir : str or Path, optional
        Folder under which one cache per backbone (``<cache_dir>/<backbone id>/``) is kept. Default: the caches
        every run shares (:func:`autoal.vision.embedder.default_embedding_dir`: ``$AUTOAL_EMBEDDING_CACHE``, else
        ``$AUTOAL_CACHE_DIR/embeddings``, else ``~/.cache/autoal/embeddings``), so that a second run over the same
        images (another strategy, seed or output folder) embeds none of them again. (Runs with an output folder
        once kept their own cache in ``<output_dir>/embeddings``.)
    graph : {"combine", "only", "off"}
        Learning from the unlabelled examples too (logistic head only; :mod:`autoal.learners.graph_head`): in a run
        (:meth:`set_population`), a k-nearest-neighbour graph of the run's examples is built once
        (:mod:`autoal.learners.population_graph`, :mod:`autoal.graph.pool_graph`; saved under ``<output_dir>/graph/``
        and reused on resume) and the labels are spread over it by Poisson learning (:mod:`autoal.graph.poisson`).
        ``"combine"`` (the default) mixes its probabilities with the logistic regression's, with a weight chosen at
        each fit from held-out labels; ``"only"`` uses the graph alone; ``"off"`` the logistic regression alone (the
        earlier behaviour, kept for runs stored before the graph). Rows outside the graph (a holdout, new images) read
        it through their nearest pool examples; they never change it. Measured in benchmarks/RESULTS.md ("Learning
        from the whole pool").
    graph_neighbours : int or "auto"
        Neighbours of each example in the graph; ``"auto"``: 15 (fewer in a pool of 15 examples or less).
    graph_dims : int
        The embeddings are standardised and PCA-whitened to this many dimensions before the neighbour search.
    graph_search : {"auto", "exact", "approximate"}
        Neighbour search (:mod:`autoal.graph.neighbours`): exact up to 50,000 examples, approximate beyond.
    """

    def __init__(self, *, backbones=None, checkpoint=None, head="logistic", image_size="auto", batch_size=32, C="auto",
                 cache_dir=None, tabular_hyperparameters=None, time_limit=None, standardise_on="run", graph="combine",
                 graph_neighbours="auto", graph_dims=64, graph_search="auto"):
        self.backbones = backbones
        self.standardise_on = standardise_on
        self.checkpoint = checkpoint
        self.head = head
        self.tabular_hyperparameters = tabular_hyperparameters
        self.time_limit = time_limit
        self.image_size = image_size
        self.batch_size = batch_size
        self.C = C
        self.cache_dir = cache_dir
        self.graph = graph
        self.graph_neighbours = graph_neighbours
        self.graph_dims = graph_dims
        self.graph_search = graph_search
        self._backbone_set = None  # the networks and their caches (autoal.vision.backbone_set), built on first use
        self._shared_cache_root = None
        self._chosen_size = None  # image_size="auto" decided from the images (resolve_options)
        self._population = None  # the run's examples (set_population), for standardise_on="run"
        self._statistics = {}  # their (mean, scale) under "reference", measured once, shared with clones
        self._population_graph = None  # the run's PopulationGraph when fits use one (shared with clones)
        self.graph_head_ = None  # the last fit's GraphHead, or None (no graph for this fit)
        self._backbone_ids = None  # a saved model's backbones: the ids of the networks it was saved from
        self.model_ = None  # the fitted head (None also when one class was labelled: that class is certain)
        self.classes_ = None  # the classes of the last fit, in the head's column order
        self._n_tabular_fits = 0  # the tabular head's fits so far (its folders are numbered)

    def _check_head(self) -> None:
        check_option("head of the embeddings learner", self.head, StrOptions(HEADS))
        check_option("standardise_on of the embeddings learner", self.standardise_on, StrOptions(STANDARDISE_ON))
        check_option("C of the embeddings learner", self.C, Interval(Real, 0, None, closed="neither"), StrOptions(["auto"]))
        from autoal.graph.pool_graph import check_graph_options
        from autoal.learners.graph_head import check_graph_mode

        check_graph_mode(self.graph)
        check_graph_options(self.graph_neighbours, self.graph_dims, self.graph_search)

    def penalty_C(self, n_labels: int) -> float:
        """The logistic regression's ``C`` for a fit on ``n_labels`` labels (see the ``C`` parameter)."""
        if self.C == "auto":
            return min(1.0, PENALTY_LABELS / max(n_labels, 1))
        return float(self.C)

    def set_population(self, frame: pd.DataFrame) -> None:
        """Keep the run's examples (labels removed): with ``standardise_on="run"`` the first fit measures the means
        and standard deviations of their embeddings (a seeded sample of :data:`STATISTICS_SAMPLE` at most) and
        every fit of the run standardises with them."""
        self._population, self._statistics = frame, {}
        self._population_graph = None
        if self.learns_from_pool and self.image_col is not None and self.image_col in frame:
            from autoal.learners.population_graph import PopulationGraph

            self._population_graph = PopulationGraph(frame.index.tolist(), frame[self.image_col].tolist())

    def _reference_statistics(self, inputs):
        """The run's ``(mean, scale)`` of what the logistic regression reads (``inputs(frame)`` of the population),
        or None: standardise on the labelled rows."""
        if self.standardise_on != "run" or self._population is None or not len(self._population):
            return None
        if "reference" not in self._statistics:  # clones share the dict: measured once, whichever fits first
            from autoal.common.sampling import seeded_sample
            from autoal.learners.feature_blocks import reference_statistics

            rows = seeded_sample(len(self._population), STATISTICS_SAMPLE, random_state=[self.random_state, 19])
            self._statistics["reference"] = reference_statistics(inputs(self._population.iloc[rows]))
        return self._statistics["reference"]

    def configure(self, **settings) -> "EmbeddingLearner":
        self._check_head()
        self._check_image_size()
        return super().configure(**settings)

    def _check_image_size(self) -> None:
        check_option("image_size", self.image_size, POSITIVE_INT, StrOptions(["auto"]),
                     hint="the side of the square images in pixels, e.g. 224")

    def resolve_options(self, df: pd.DataFrame) -> dict:
        """``{"image_size": N}`` when ``image_size`` is ``"auto"`` (``{}`` otherwise): decided from ``df``'s images
        the first time, then kept for this learner and its clones. A run calls this with its pool and stores the
        answer in its settings, so that a resumed run embeds at the same size."""
        if self.image_size != "auto":
            return {}
        if self._chosen_size is None:
            from autoal.vision.image_size import embedding_image_size

            self._chosen_size = embedding_image_size(df[self.image_col])
        return {"image_size": self._chosen_size}

    @property
    def side(self):
        """The side images are resized to: ``image_size``, or what ``"auto"`` decided (None before that)."""
        return self._chosen_size if self.image_size == "auto" else int(self.image_size)

    def usable_feature_columns(self, columns, *, image_col):
        """Numeric and categorical columns; text columns are left out with a warning. Needs an image column."""
        if image_col is None:
            raise InputError("the embeddings learner embeds images, and image_col=None means there are none; use "
                             "learner='tabular' (the default without images) or learner='autogluon' for a table")
        if columns.text:
            names = list(columns.text)
            why = ("free text, which the embeddings learner does not read; use learner='autogluon' with "
                   "learner_options={'text_checkpoint': PATH} (a local Hugging Face checkpoint folder) to use it")
            warnings.warn(f"autoal: text columns {names} are not used: {why}", UserWarning, stacklevel=3)
            columns = columns.without(names, why)
        return columns

    # -- embeddings -------------------------------------------------------------------------------

    def _backbones(self):
        """The :class:`~autoal.vision.backbone_set.BackboneSet` this learner embeds with (built on first use;
        RuntimeError while an ``"auto"`` image size is not decided yet)."""
        if self._backbone_set is None:
            from autoal.learners.embedding_backbones import backbone_folders
            from autoal.vision.backbone_set import BackboneSet

            folders = backbone_folders(checkpoint=self.checkpoint, backbones=self.backbones)
            if self.side is None:
                raise RuntimeError("image_size 'auto' is decided from the images, and none was seen yet: embed some "
                                   "(fit, embeddings), call resolve_options(df), or pass image_size=160 or 224")
            self._backbone_set = BackboneSet(folders, image_size=self.side, batch_size=self.batch_size,
                                             cache_root=self.cache_root(), backbone_ids=self._backbone_ids)
        return self._backbone_set

    @property
    def embedders(self) -> list:
        """One :class:`~autoal.vision.embedder.Embedder` per backbone."""
        return self._backbones().embedders

    @property
    def embedder(self):
        """The first backbone's :class:`~autoal.vision.embedder.Embedder`."""
        return self.embedders[0]

    @property
    def num_features(self) -> int:
        """Length of an image's joined embedding: the backbones' widths added up."""
        return self._backbones().num_features

    def cache_root(self) -> Path:
        """The folder holding one embedding cache per backbone (``cache_dir``, else the shared default)."""
        from autoal.vision.embedder import default_embedding_dir

        if self._shared_cache_root is not None:
            return self._shared_cache_root
        if self.cache_dir is not None:
            return Path(self.cache_dir).expanduser()
        return default_embedding_dir()

    @property
    def caches(self) -> list:
        """The :class:`~autoal.vision.cache.EmbeddingCache` of each backbone."""
        return self._backbones().caches

    @property
    def cache(self):
        """The first backbone's :class:`~autoal.vision.cache.EmbeddingCache`."""
        return self.caches[0]

    def _embed_blocks(self, df: pd.DataFrame, stats=None, embed=None) -> list:
        """Each backbone's embeddings of ``df``'s images (:meth:`BackboneSet.embed_blocks
        <autoal.vision.backbone_set.BackboneSet.embed_blocks>`), the image size decided first when it is ``"auto"``."""
        if len(df):
            self.resolve_options(df)
        return self._backbones().embed_blocks(df[self.image_col].tolist(), stats, embed)

    def _embed(self, df: pd.DataFrame, stats=None, embed=None) -> np.ndarray:
        """The backbones' embeddings of ``df``'s images side by side, shape (len(df), num_features)."""
        blocks = self._embed_blocks(df, stats, embed)
        return blocks[0] if len(blocks) == 1 else np.hstack(blocks)

    def _inputs(self, df: pd.DataFrame, stats=None, embed=None) -> np.ndarray:
        """What the logistic head reads: the images' embeddings, then the encoded feature columns."""
        x = self._embed(df, stats, embed)
        columns = self.encoded_feature_columns(df)
        return x if columns is None else np.hstack([x, columns])

    def _raw_columns(self, df: pd.DataFrame):
        """The feature columns as the tabular head's TabularPredictor reads them, or None when there are none."""
        from autoal.learners.tabular import tabular_frame

        columns = self.feature_columns_of(df)
        return tabular_frame(columns, df) if columns.used else None

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
            from autoal.learners.tabular_head import TabularHead

            image_model = self._logistic(x.shape[1], len(df), self._reference_statistics(self._embed))
            self.model_ = TabularHead(self._tabular_path(), self.tabular_hyperparameters, self.time_limit,
                                      self.random_state, image_model=image_model).fit(x, y, self._raw_columns(df))
            self.classes_ = self.model_.classes_
        else:
            with one_blas_thread():
                self.model_ = self._logistic(self.num_features, len(df),
                                             self._reference_statistics(self._inputs)).fit(x, y)
            self.classes_ = self.model_.classes_.tolist()
        # cache_hits and n_embedded count (image, backbone) pairs: with two backbones, a fully cached image counts 2
        self.last_fit_info_ = {"n_train": len(df), "embed_seconds": round(stats["seconds"], 3),
                               "cache_hits": stats["hits"], "n_embedded": stats["embedded"]}
        self._fit_graph(df, x, y, len(labels))
        return self

    # -- the pool graph (autoal.learners.population_graph, autoal.learners.graph_head) ---------------

    @property
    def learns_from_pool(self) -> bool:
        """Whether fits mix in the pool graph (``graph`` not ``"off"``, logistic head)."""
        return self.graph != "off" and self.head == "logistic"

    def _graph_nodes(self, df: pd.DataFrame):
        """``df``'s rows as nodes of the run's graph (-1 outside it), or None when this learner uses no graph."""
        population = self._population_graph
        return None if population is None else population.nodes_of(df, self.image_col)

    def pool_graph(self):
        """The run's :class:`~autoal.graph.pool_graph.PoolGraph` (after :meth:`set_population`): loaded from
        ``<output_dir>/graph/`` when it was built for the same examples and settings, else built from the cached
        embeddings and saved there; None when this learner uses no graph."""
        population = self._population_graph
        if population is None:
            return None
        if population.graph is None:  # the settings name the backbones: built only when the graph is opened
            settings = {"neighbours": self.graph_neighbours, "dims": self.graph_dims, "search": self.graph_search,
                        "backbones": [e.backbone_id for e in self.embedders], "side": self.side,
                        "seed": self.random_state}
            folder = None if self.output_dir is None else Path(self.output_dir) / "graph"
            population.open(lambda: self._embed(self._population), settings, folder)
        return population.graph

    def coverage_space(self, df: pd.DataFrame):
        """``df``'s rows in the pool graph's whitened space (:class:`~autoal.graph.space.WhitenedSpace`: the space
        its neighbours are found in), building the graph if needed; rows outside the pool are transformed there.
        None without a graph."""
        nodes = self._graph_nodes(df)
        if nodes is None:
            return None
        self.pool_graph()
        return self._population_graph.space_points(nodes, lambda rows: self._embed(df.iloc[rows]))

    def _fit_graph(self, df, x, y, n_labels) -> None:
        """Spread this fit's labels over the pool graph and choose the mixture (``graph_head_``; None without)."""
        self.graph_head_ = None
        nodes = self._graph_nodes(df)
        if nodes is None or n_labels < 2 or (nodes < 0).any():  # outside a run, one class, or rows not in the graph
            return
        position = {c: i for i, c in enumerate(self.classes)}
        labels = np.array([position[v] for v in y.tolist()], dtype=np.int64)
        reference = self._reference_statistics(self._inputs)

        def logistic_without(train, held):
            with one_blas_thread():
                model = self._logistic(self.num_features, len(train), reference).fit(x[train], y[train])
            return pad_probabilities(model.predict_proba(x[held]), model.classes_.tolist(), self.classes)

        self.graph_head_, facts = self._population_graph.fit_head(
            self.pool_graph, nodes, labels, len(self.classes), mode=self.graph, logistic_without=logistic_without,
            random_state=[self.random_state, len(df), 29])
        self.last_fit_info_.update(facts)

    def _logistic(self, n_image, n_labels, reference=None):
        """Logistic regression (``C`` for ``n_labels`` labels) on the first ``n_image`` columns (embeddings) and
        the encoded feature columns after them, block-weighted (:class:`~autoal.learners.feature_blocks.BlockScaler`;
        exactly StandardScaler without feature columns), standardised by ``reference`` ``(mean, scale)`` when given."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        from autoal.learners.feature_blocks import BlockScaler

        head = LogisticRegression(C=self.penalty_C(n_labels), max_iter=2000, random_state=self.random_state)
        return make_pipeline(BlockScaler(n_image, reference), head)

    def _tabular_path(self) -> Path:
        import tempfile

        base = Path(self.output_dir) if self.output_dir is not None else Path(tempfile.mkdtemp(prefix="autoal-tabular-"))
        self._n_tabular_fits += 1
        return base / "models" / f"tabular_{self._n_tabular_fits:02d}"

    def predict_proba(self, df: pd.DataFrame, *, embed=None) -> np.ndarray:
        """Class probabilities of ``df``'s images, shape (len(df), len(self.classes)).

        Parameters
        ----------
        embed : callable, optional
            Computes the embeddings of images missing from a backbone's cache: ``embed(paths, backbone)``
            (``backbone`` the position in :attr:`embedders`) -> float32 array (see
            :func:`~autoal.vision.embedder.embed_paths`); default: this process's networks.
            :func:`autoal.rounds.pool_prediction.predict_pool` passes one that spreads the work over Ray workers.
        """
        if self.model_ is None:
            self._embed(df, embed=embed)  # unreadable images still fail here, as with a model
            probs = np.ones((len(df), 1))
        elif self.head == "tabular":
            probs = self.model_.predict_proba(self._embed(df, embed=embed), self._raw_columns(df))
        else:
            x = self._inputs(df, embed=embed)
            probs = pad_probabilities(self.model_.predict_proba(x), self.classes_, self.classes)
            head = self.graph_head_
            if head is not None:
                scores = head.scores_of(self.pool_graph(), self._graph_nodes(df),
                                        lambda rows: x[rows, :self.num_features])
                return head.mix(head.probabilities(scores), probs)
            return probs
        return pad_probabilities(probs, self.classes_, self.classes)

    def embeddings(self, df: pd.DataFrame) -> np.ndarray:
        """The cached embeddings of ``df``'s images (computed for images not yet in the cache), each backbone's
        block scaled to the same spread when there are several, joined with its encoded feature columns
        (:func:`autoal.learners.feature_blocks.join_blocks`: each block weighs the same), for diversity rules."""
        from autoal.learners.feature_blocks import equal_spread, join_blocks

        blocks = self._embed_blocks(df)
        image = blocks[0] if len(blocks) == 1 else equal_spread(blocks)
        return join_blocks(image, self.encoded_feature_columns(df))

    def clone(self, *, subdir="clone") -> "EmbeddingLearner":
        """A fresh, unfitted twin that shares this learner's network and embedding cache."""
        twin = super().clone(subdir=subdir)
        twin._shared_cache_root = self.cache_root()
        twin._backbone_set = self._backbone_set
        twin._chosen_size = self._chosen_size
        twin._population, twin._statistics = self._population, self._statistics
        twin._population_graph = self._population_graph
        return twin

    def worker_copy(self) -> "EmbeddingLearner":
        """A copy without the networks and the cache handles, its backbones fixed to this learner's folders.

        A worker rebuilds the networks from the checkpoint folders on first use (which must be readable
        there); only the driver writes the caches.
        """
        twin = copy.copy(self)
        twin.checkpoint = None
        twin.backbones = [str(embedder.checkpoint_dir) for embedder in self.embedders]
        twin._backbone_set = None
        twin._population = None  # a worker only predicts: the fitted scaler holds the statistics
        return twin

    # -- saving -----------------------------------------------------------------------------------

    def save_fitted(self, folder: Path) -> tuple:
        """The logistic head's arrays and a safetensors copy of every backbone (``backbones/<i>/``) with the image
        size, so that the saved model embeds exactly as this learner does (:class:`autoal.learners.Learner`,
        "Saving"). The tabular head is an AutoGluon ``TabularPredictor``, which only saves as pickles: not saved."""
        from autoal.learners.saved_state import logistic_pipeline_state
        from autoal.vision.checkpoints import copy_as_safetensors

        if self.head != "logistic":
            raise NotImplementedError(f"the embeddings learner's {self.head!r} head is an AutoGluon TabularPredictor, "
                                      "which saves only as pickles; the model is not saved (head='logistic' is)")
        backbones = []
        for index, embedder in enumerate(self.embedders):
            copy_as_safetensors(embedder.checkpoint_dir, Path(folder) / "backbones" / str(index))
            backbones.append({"folder": f"backbones/{index}", "backbone_id": embedder.backbone_id,
                              "architecture": embedder.architecture})
        state = {"image_size": self.side, "batch_size": self.batch_size, "C": self.C, "backbones": backbones,
                 "classes_": [plain_scalar(c) for c in self.classes_], "head": None}
        arrays = {}
        if self.model_ is not None:
            state["head"], arrays = logistic_pipeline_state(self.model_)
        if self.graph_head_ is not None:
            state["graph_head"], graph_arrays = self._population_graph.head_state(self.graph_head_)
            arrays.update(graph_arrays)
        return state, arrays

    @classmethod
    def load_fitted(cls, state: dict, arrays: dict, folder: Path) -> "EmbeddingLearner":
        """The learner :meth:`save_fitted` saved, embedding with the saved backbones (same ids, so the same cache)."""
        from autoal.learners.saved_state import logistic_pipeline_from_state

        learner = cls(backbones=[str(Path(folder) / b["folder"]) for b in state["backbones"]],
                      image_size=int(state["image_size"]), batch_size=int(state["batch_size"]), C=state["C"])
        learner._backbone_ids = [b["backbone_id"] for b in state["backbones"]]
        learner.classes_ = list(state["classes_"])
        learner.model_ = None if state["head"] is None else logistic_pipeline_from_state(state["head"], arrays)
        if state.get("graph_head") is not None:
            from autoal.learners.population_graph import PopulationGraph

            learner._population_graph, learner.graph_head_ = PopulationGraph.from_head_state(state["graph_head"],
                                                                                             arrays)
        return learner

    def close(self) -> None:
        """Drop the networks and the cache mappings (both are rebuilt on next use)."""
        self._backbone_set = None
