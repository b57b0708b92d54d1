"""A run's options, validated once: :class:`RunConfig`.

:func:`autoal.run` builds one ``RunConfig`` from its keyword arguments (the ``autoal`` command builds the
same arguments from its flags, which :mod:`autoal.cli.run_options` generates from the fields below).
Every check runs in ``__post_init__``, so a bad option fails before any data is read; every ``"auto"``
is turned into a concrete choice by :meth:`RunConfig.resolved`, once, with the facts it depends on
(annotators, embeddings, real or simulated labels). The resolved config is stored in the run store
with :data:`CONFIG_VERSION` and read back on resume (:meth:`RunConfig.from_settings`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

from autoal.data.image_files import CHECK_RULES
from autoal.common.checks import POSITIVE_INT, Integral, Interval, Real, StrOptions, check_option, refusal
from autoal.errors import InputError
from autoal.learners import LEARNERS, Learner, check_learner_choice
from autoal.query.batching import BATCH_RULES, check_batch_rule
from autoal.query.cold_start import INITIAL_RULES
from autoal.query.relabel_policy import make_relabel_policy
from autoal.query.strategies import AUTO_STRATEGY, STRATEGIES, check_strategy_choice
from autoal.rounds.pool_prediction import check_scoring
from autoal.rounds.stopping import make_stop_rule

__all__ = ["RunConfig", "CONFIG_VERSION", "OOS_MODES", "CHECK_IMAGES", "AUTO_OPTIONS", "resolve_learner"]

#: Version of the stored config's layout (``config_version`` in the run's settings); runs stored before it
#: have none and are read as version 0 (their ``"auto"`` options are resolved when the run is opened).
#: Version 2: the embeddings learner's ``image_size`` is stored in ``learner_options`` (chosen from the pool).
#: Version 3: the AutoGluon learner's default image side is 128 px (64 px before).
#: Version 4: the AutoGluon learner fits twice a round by default when it fits afresh (once before).
#: Version 5: the embeddings learner standardises on the run's examples by default (on each fit's labelled rows before).
#: Version 6: the embeddings learner's ``C`` follows the label count by default (``C="auto"``; 1.0 before).
#: Version 7: the embeddings learner learns from the pool graph too by default (``graph="combine"``; "off" before).
CONFIG_VERSION = 7

#: The options whose ``"auto"`` depends on the run's facts (:meth:`RunConfig.resolved`). A run stores them resolved
#: and names the ones that were ``"auto"`` (``auto_options`` in its settings), so that opening the run resolves them
#: again with the facts of then (e.g. ``strategy`` and ``oos`` after a second annotator joined the page).
AUTO_OPTIONS = ("learner", "strategy", "batch", "initial", "oos")

#: What runs stored before configs (no ``config_version``) used when a setting was missing.
_VERSION_0_DEFAULTS = {"oos": "pick", "batch": "topk", "initial": "random", "strategy": "auto"}

#: The embeddings learner's image side before version 2 (runs that did not store one embedded at this size).
_VERSION_1_EMBEDDING_SIDE = 128
#: The AutoGluon learner's default image side before version 3 (runs that did not set one fine-tuned at this size).
_VERSION_2_AUTOGLUON_SIDE = 64
#: The AutoGluon learner's fits per round before version 4 (runs that did not set ``fits_per_round`` fitted once).
_VERSION_3_AUTOGLUON_FITS = 1
#: What the embeddings learner standardised on before version 5.
_VERSION_4_STANDARDISE_ON = "labelled"
#: The embeddings learner's ``C`` before version 6.
_VERSION_5_EMBEDDING_C = 1.0
#: The embeddings learner's ``graph`` before version 7.
_VERSION_6_EMBEDDING_GRAPH = "off"

#: Values of ``oos=``.
OOS_MODES = ("auto", "cross_val", "pick")
#: Values of ``check_images=``.
CHECK_IMAGES = CHECK_RULES  # the image checks a run may ask for (autoal.data.image_files)


def _option(default=None, *, flag=None, help=None, page=True, factory=None, **cli) -> Any:
    """A config field; ``flag`` and ``cli`` (argparse keywords, plus ``from_cli``, a converter of the parsed
    value) describe its command-line option; ``page=False``: not offered by ``autoal serve``."""
    metadata = {"flag": flag, "help": help, "page": page, **cli} if flag else {}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def positive_int_text(text):
    """argparse type of the run options that take a positive integer."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    reason = refusal(value, POSITIVE_INT)
    if reason is not None:
        raise argparse.ArgumentTypeError(reason)
    return value


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Every option of a run but its data, annotators and folder (see :func:`autoal.run` for each one).

    Frozen and validated when built: ``RunConfig(batch_size=0)`` raises :class:`~autoal.errors.InputError`.
    ``relabel`` and ``stop`` are normalised to a :class:`~autoal.query.relabel_policy.RelabelPolicy` or None
    and a :class:`~autoal.rounds.stopping.StablePredictions` or None.
    """

    label: str = "label"
    image_col: str | None = "image_path"
    id_col: str | None = None
    feature_cols: Any = _option(None, flag="--feature-cols", metavar="A,B,...", from_cli="feature_cols", help=(
        "the columns besides label and image the learner reads (default: every other column except identifiers, "
        "paths, URLs, dates and constant columns, which are named and left out); COLUMN:KIND sets a kind "
        "(numeric, categorical or text), e.g. --feature-cols age,zip:categorical"))
    strategy: str | Callable = _option("auto", flag="--strategy", choices=("auto", *sorted(STRATEGIES)), help=(
        "query strategy (default auto: margin with one annotator, activelab with several, with k-means batches "
        "and initial set when embeddings are available)"))
    batch: str = _option("auto", flag="--batch", choices=("auto", *BATCH_RULES), help=(
        "batch rule (default auto: kmeans when embeddings are available, else topk; with the pool graph "
        "coverage-first: batches covering the pool until 5 labels a class, then kmeans)"))
    candidates_factor: float = _option(10, flag="--candidates-factor", type=float,
                                       help="kmeans batches: shortlist size in batches")
    initial: str = _option("auto", flag="--initial", choices=("auto", *INITIAL_RULES), help=(
        "first examples (default auto: coverage, else kmeans, with the default strategy when embeddings are "
        "available, and in real mode only when no label is given): random per class, the most typical of k-means "
        "clusters, or the central one of k-means clusters of the learner's pool graph (cold start)"))
    batch_size: int = _option(150, flag="--batch-size", type=positive_int_text, metavar="N",
                              help="labels asked per round")
    n_rounds: int = _option(10, flag="--rounds", type=positive_int_text, metavar="N", help="query rounds after round 0")
    initial_per_class: int = _option(8, flag="--init-per-class", type=positive_int_text, page=False, metavar="N",
                                     help="labels per class revealed before round 1 (simulation mode)")
    learner: str | Learner = _option("auto", flag="--learner", choices=("auto", *sorted(LEARNERS)), help=(
        "model retrained every round (default auto: embeddings, i.e. frozen MobileNetV2 + EfficientNet-Lite0 "
        "features and logistic regression, with images; tabular for a table without images)"))
    learner_options: dict = _option(factory=dict)
    relabel: Any = _option(True, flag="--no-relabel", action="store_true", from_cli="not",
                           help="never ask a second label for a labelled example")
    oos: str = "auto"
    folds: int = 5
    random_state: int = _option(0, flag="--seed", type=int, metavar="SEED", help="random seed")
    target_accuracy: float | None = _option(None, flag="--target-accuracy", type=float,
                                            help="stop once holdout accuracy reaches this")
    stop: Any = _option(None, flag="--stop-stable", action="store_true", from_cli="stable", help=(
        "stop when predictions on a stop set agree (Cohen's kappa >= 0.99) for 3 rounds"))
    pool_subsample: int | None = _option(None, flag="--pool-subsample", type=positive_int_text, metavar="N",
                                         help="score only this many unlabelled examples per round")
    scoring: Any = _option(None, flag="--scoring",
                           help="where the pool is predicted: ray (local Ray runtime) or a Ray address")
    holdout_fraction: float = 0.2
    classes: list | None = _option(None, flag="--classes", from_cli="classes", help=(
        "comma-separated class list: needed when the manifest has no label at all (the run then starts by asking "
        "for typical examples), or when some classes have no label yet"))
    simulate: bool | None = None
    drop_bad_images: bool = _option(False, flag="--drop-bad-images", action="store_true",
                                    help="drop rows whose image is missing or unreadable")
    check_images: str = _option("auto", flag="--check-images", choices=CHECK_IMAGES, help=(
        "images decoded before the run (default auto: all of up to 20,000 files, else a sample of 2,000; every "
        "file must exist and start like an image)"))
    verbose: bool = _option(True, flag="--quiet", action="store_true", from_cli="not", help="no progress lines")

    def __post_init__(self):
        for name in ("batch_size", "n_rounds", "initial_per_class"):
            check_option(name, getattr(self, name), POSITIVE_INT)
        check_option("target_accuracy", self.target_accuracy, Interval(Real, 0, 1, closed="right"), None)
        check_option("holdout_fraction", self.holdout_fraction, Interval(Real, 0, 1, closed="left"),
                     hint="0 keeps no holdout")
        check_batch_rule(self.batch, self.candidates_factor)
        check_option("initial", self.initial, StrOptions(INITIAL_RULES + ("auto",)))
        check_option("oos", self.oos, StrOptions(OOS_MODES))
        check_option("check_images", self.check_images, StrOptions(CHECK_IMAGES))
        check_option("pool_subsample", self.pool_subsample, POSITIVE_INT, None)
        check_option("folds", self.folds, Interval(Integral, 2, None, closed="left"))
        check_scoring(self.scoring)
        check_learner_choice(self.learner, self.learner_options)
        check_strategy_choice(self.strategy)
        object.__setattr__(self, "learner_options", dict(self.learner_options or {}))
        object.__setattr__(self, "relabel", make_relabel_policy(self.relabel))
        object.__setattr__(self, "stop", make_stop_rule(self.stop))

    # -- "auto" ------------------------------------------------------------------------------------

    @property
    def learner_to_make(self):
        """The learner the run trains, by name or as the instance given: ``learner`` with ``"auto"`` read by
        :func:`resolve_learner` (:meth:`resolved` stores the same)."""
        return resolve_learner(self.learner, self.image_col)

    @property
    def is_resolved(self) -> bool:
        """Whether no option is ``"auto"`` any more."""
        return "auto" not in (self.learner, self.strategy, self.batch, self.initial, self.oos)

    def resolved(self, *, n_annotators: int, embeddings: bool, simulation: bool, n_given: int,
                 coverage: bool = False) -> "RunConfig":
        """This config with every ``"auto"`` replaced by what it stands for; the one place that decides them.

        Parameters
        ----------
        n_annotators : int
            Annotators of the run: ``strategy="auto"`` is margin with one, ActiveLab with several;
            ``oos="auto"`` is ``"cross_val"`` with several and relabeling, else ``"pick"``.
        embeddings : bool
            Whether embeddings can be had (:func:`autoal.learners.embedding_source.embeddings_available`):
            ``batch``/``initial`` ``"auto"`` are ``"kmeans"`` with ``strategy="auto"`` and embeddings.
        simulation : bool
            Simulation mode; in real mode ``initial="auto"`` starts from the given labels (``"random"``)
            and runs a cold start (``"kmeans"``) only when there are none (``n_given`` 0).
        n_given : int
            Labels the data arrived with (real mode).
        coverage : bool
            Whether the learner learns from the pool graph (:func:`autoal.learners.embedding_source.learns_from_pool`):
            then the picked initial set (the cold start's, and simulation's with ``strategy="auto"``) is
            ``"coverage"`` instead of ``"kmeans"``, and ``batch="auto"`` is ``"coverage-first"`` (coverage batches
            until :data:`autoal.query.cold_start.COVERAGE_LABELS_PER_CLASS` labels a class, then k-means batches of
            the scores: margin's with one annotator, ActiveLab's with several; coverage batches ask about new
            examples only, so relabels start after the switch).
        """
        diverse = self.strategy == "auto" and embeddings
        picked = "coverage" if coverage and embeddings else "kmeans"
        initial = self.initial
        if initial == "auto":
            initial = (picked if diverse else "random") if simulation else ("random" if n_given else picked)
        strategy = self.strategy
        if strategy == "auto":
            strategy = AUTO_STRATEGY["one annotator" if n_annotators <= 1 else "several annotators"]
        oos = self.oos
        if oos == "auto":
            oos = "cross_val" if self.relabel is not None and n_annotators > 1 else "pick"
        batch = self.batch
        if batch == "auto":  # with a learner on the pool graph: coverage batches while labels are few
            batch = ("coverage-first" if coverage and embeddings else "kmeans") if diverse else "topk"
        return dataclasses.replace(
            self, learner=self.learner_to_make, strategy=strategy, oos=oos, initial=initial,
            batch=batch)

    def check_holdout(self, *, has_test_df: bool) -> None:
        """``target_accuracy`` needs a holdout: a ``test_df`` or a ``holdout_fraction`` above 0."""
        if self.target_accuracy is not None and not has_test_df and self.holdout_fraction == 0:
            raise InputError("target_accuracy needs a holdout, and holdout_fraction=0 keeps none; pass test_df, a "
                             "holdout_fraction above 0, or stop='stable' to stop without a holdout")

    # -- storing -----------------------------------------------------------------------------------

    def auto_options(self) -> list:
        """The names of the options that are ``"auto"`` (before :meth:`resolved`)."""
        return [name for name in AUTO_OPTIONS if getattr(self, name) == "auto"]

    def to_settings(self, *, auto_options=()) -> dict:
        """The config as JSON-able settings (custom objects as None: they cannot be saved), with its version and
        ``auto_options``, the names of options that were ``"auto"`` before resolving (resolved again on open)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out.update(
            learner=self.learner if isinstance(self.learner, str) else None,
            strategy=self.strategy if isinstance(self.strategy, str) else None,
            scoring=self.scoring if self.scoring is None or isinstance(self.scoring, str) else None,
            relabel=self.relabel.to_dict() if self.relabel is not None else False,
            stop=self.stop.to_dict() if self.stop is not None else None,
            config_version=CONFIG_VERSION,
            auto_options=list(auto_options),
        )
        return out

    @classmethod
    def from_settings(cls, settings: dict, *, learner=None, strategy=None) -> "RunConfig":
        """The config a run stored (:meth:`to_settings`), with ``learner``/``strategy`` replacing custom
        objects the settings could not keep; settings of older runs (no ``config_version``) are read too."""
        version = settings.get("config_version", 0)
        if version > CONFIG_VERSION:
            raise InputError(f"this run's settings are config version {version}, newer than this autoal "
                             f"({CONFIG_VERSION}): upgrade autoal to open it")
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in settings.items() if k in names and k not in ("learner", "strategy")}
        if version == 0:  # older runs: the fallbacks their sessions used for settings they did not store
            values = {**{k: v for k, v in _VERSION_0_DEFAULTS.items() if k != "strategy"}, **values}
        values.update({name: "auto" for name in settings.get("auto_options", []) if name not in ("learner", "strategy")})
        if learner is None and settings.get("learner") is None:
            raise InputError("the run used a custom Learner instance, which cannot be rebuilt; pass learner=... "
                             "to resume")
        if strategy is None and settings.get("strategy") is None:
            raise InputError("the run used a custom strategy function, which cannot be rebuilt; pass strategy=... "
                             "to resume")
        options = dict(settings.get("learner_options") or {}) if learner is None else {}
        auto = settings.get("auto_options", [])
        stored_learner = "auto" if "learner" in auto else settings["learner"]
        if learner is None:
            options = _older_learner_defaults(options, version,
                                              resolve_learner(stored_learner, values.get("image_col", "image_path")))
        stored_strategy = "auto" if "strategy" in auto else settings.get("strategy", "auto")
        return cls(**dict(values, learner_options=options, learner=learner or stored_learner,
                          strategy=strategy or stored_strategy))


def _older_learner_defaults(options: dict, version: int, learner: str) -> dict:
    """``options`` with the defaults that a run stored before its learner's defaults changed used, where it
    did not set them: resuming it keeps the image size, the fits per round and the standardisation its rounds were
    fitted with."""
    older = {}
    if learner == "embeddings" and version < 2:
        older["image_size"] = _VERSION_1_EMBEDDING_SIDE
    if learner == "autogluon" and version < 3:
        older["image_size"] = _VERSION_2_AUTOGLUON_SIDE
    if learner == "autogluon" and version < 4:
        older["fits_per_round"] = _VERSION_3_AUTOGLUON_FITS
    if learner == "embeddings" and version < 5:
        older["standardise_on"] = _VERSION_4_STANDARDISE_ON
    if learner == "embeddings" and version < 6:
        older["C"] = _VERSION_5_EMBEDDING_C
    if learner == "embeddings" and version < 7:
        older["graph"] = _VERSION_6_EMBEDDING_GRAPH
    return {**older, **options}


def resolve_learner(learner, image_col):
    """``learner="auto"``: ``"embeddings"`` (frozen MobileNetV2 + EfficientNet-Lite0 embeddings, logistic
    regression) for data with an image column, ``"tabular"`` (TabularPredictor) for a table without one
    (``image_col=None``); anything else as given.

    Measured on Fashion-MNIST (benchmarks/RESULTS.md, "Backbones: several frozen networks against fine-tuning" and
    "The AutoGluon learner"): the embeddings learner is more accurate than fine-tuning MobileNetV2 at 64 px with
    AutoGluon at the same labels, at a round of seconds instead of minutes, so it gives the most accuracy per
    minute. Fine-tuning at 128 px with two fits a round (the AutoGluon default) is below it at 50 labels and a
    little above it at 100-250, but a round takes minutes instead of seconds.
    """
    if isinstance(learner, str) and learner == "auto":
        return "embeddings" if image_col is not None else "tabular"
    return learner

