"""The active-learning loop: ``autoal.run(df)`` and ``autoal.resume(run_dir)``.

A run's state lives in its folder's store, ``run.sqlite`` (:mod:`autoal.store.run_store`): the examples, every
annotation, who was asked what, skips, the out-of-sample probabilities and each finished round's
record, all committed as they happen. A run that stopped for any reason (a crash, ``kill -9``, a
person pressing ``q``, labels awaited from files) continues with :func:`resume` from the step it was
in. The rounds themselves are the steps of :class:`autoal.rounds.session.Session`; :func:`drive` runs them.
"""

from __future__ import annotations

import dataclasses
import inspect
import tempfile
import warnings
from pathlib import Path

import numpy as np

from autoal.annotation.annotators import OracleAnnotator, StopAnnotation, as_annotators
from autoal.annotation.specs import annotator_from_spec
from autoal.data.prepare import prepare_data
from autoal.errors import InputError, PoolExhausted
from autoal.data.feature_columns import choose_features
from autoal.learners import check_learner_choice, make_learner
from autoal.learners.embedding_source import embedding_cache, embeddings_available, learns_from_pool
from autoal.results.result import RunResult
from autoal.store.run_state import GIVEN, RunState, check_new_run_folder, open_run
from autoal.rounds.config import OOS_MODES, RunConfig, resolve_learner
from autoal.rounds.session import Session

__all__ = ["run", "resume", "drive", "start_session", "resume_session", "RunResult", "OOS_MODES"]


def run(
    df,
    *,
    test_df=None,
    label="label",
    image_col="image_path",
    id_col=None,
    feature_cols=None,
    strategy="auto",
    batch="auto",
    candidates_factor=10,
    initial="auto",
    batch_size=150,
    n_rounds=10,
    initial_per_class=8,
    learner="auto",
    learner_options=None,
    annotators=None,
    relabel=True,
    oos="auto",
    folds=5,
    output_dir=None,
    random_state=0,
    target_accuracy=None,
    stop=None,
    pool_subsample=None,
    scoring=None,
    holdout_fraction=0.2,
    classes=None,
    simulate=None,
    drop_bad_images=False,
    check_images="auto",
    verbose=True,
    final_learner=None,
    final_learner_options=None,
) -> RunResult:
    """Run active learning on ``df`` and return the per-round history, the labels and the final model.

    Parameters
    ----------
    df : DataFrame
        One row per example with ``label`` and ``image_col`` columns; other columns are features (see
        ``feature_cols``). With ``image_col=None``, a table: the features and the label.
        Fully labelled: simulation mode (all but ``initial_per_class`` labels per class are hidden;
        the annotators, or a perfect oracle when none is given, label what is picked). With NaN
        labels: real mode (the NaN rows are the pool and ``annotators`` label them).
    test_df : DataFrame, optional
        Labelled holdout. Default: a seeded stratified ``holdout_fraction`` of the labelled rows.
    label, image_col : str
        Column names; ``image_col=None`` for a table without images (numeric, categorical and text columns).
    id_col : str, optional
        Column of stable example ids; default the DataFrame index.
    feature_cols : None, list or dict, optional
        The columns besides the label and the image that the learner reads. None (default): every other
        column, each numeric, categorical or text by its values, except identifiers, paths to other files,
        URLs, dates and constant columns, which are left out with a message saying why
        (:mod:`autoal.data.feature_columns`). A list names the columns (their kinds inferred); a dict
        ``{column: "numeric" | "categorical" | "text"}`` also sets their kinds. Text columns need a text
        model (AutoGluon learner with ``learner_options={"text_checkpoint": PATH}``), or the tabular
        learner's n-gram features.
    strategy : str or callable
        ``"auto"`` (default: the recommended combination, see benchmarks/RESULTS.md: margin with one
        annotator, ActiveLab with several, with ``batch`` and ``initial`` ``"kmeans"`` when embeddings
        are available), ``"activelab"``, ``"random"``, ``"least_confidence"``, ``"margin"``,
        ``"entropy"`` or a callable (see :mod:`autoal.query.strategies`); lower scores are asked first. A
        named strategy runs plain (top-k batches, random initial set) unless ``batch``/``initial`` say otherwise.
    batch : str
        How a batch is drawn from the scores (:mod:`autoal.query.batching`): ``"topk"`` (the lowest
        scores), ``"kmeans"`` (the lowest-scoring candidate of each k-means cluster of the
        ``candidates_factor x batch_size`` lowest-scoring candidates' embeddings) or ``"auto"``:
        ``"kmeans"`` with ``strategy="auto"`` when embeddings are available (the learner's features,
        or the packaged pretrained backbone), else ``"topk"``.
    candidates_factor : float
        Shortlist size of ``batch="kmeans"``, in batches (default 10).
    initial : str
        ``"auto"``: in simulation with ``strategy="auto"`` and embeddings ``"coverage"`` when the learner
        learns from the pool graph (the default learner), else ``"kmeans"``, else ``"random"``; in real mode
        the given labels start the run, and a df with no label at all starts with the same pick.
        ``"random"``: in simulation, ``initial_per_class`` random examples per class. ``"kmeans"``
        (cold start, :mod:`autoal.query.cold_start`): the most typical example of each of k k-means
        clusters of the pool's embeddings, k = ``initial_per_class`` x classes in simulation; in real
        mode round 0 asks the annotators for ``batch_size`` such examples besides any given labels.
        ``"coverage"``: the same with the central example of each cluster of the pool graph's space.
    batch_size : int
        Annotations asked per round (fewer when the candidates run out).
    n_rounds : int
        Query rounds after round 0.
    initial_per_class : int
        Examples per class labelled before round 1 (simulation mode).
    learner : str or Learner
        ``"auto"`` (default: ``"embeddings"`` with an image column, the most accuracy per minute on a CPU;
        ``"tabular"`` without, see :func:`autoal.rounds.config.resolve_learner`), ``"autogluon"``
        (MultiModalPredictor on the image and the feature columns), ``"embeddings"``, ``"tabular"``
        (TabularPredictor on the feature columns), ``"fast"`` or a :class:`autoal.learners.Learner` instance.
    learner_options : dict, optional
        Keyword arguments for a named learner, e.g. ``{"time_limit": 60, "checkpoint": "my/ckpt"}``.
    annotators : Annotator, callable or list, optional
        Who labels picked examples; required in real mode. See :func:`autoal.simulated_annotators`.
    relabel : bool, dict or RelabelPolicy
        With several annotators and a strategy that scores labelled examples (ActiveLab), let a
        batch mix new labels and extra labels for examples whose consensus is shaky. True: the
        default guards (:class:`autoal.query.relabel_policy.RelabelPolicy`: a warm-up before relabel scores
        are trusted, ties first, caps); a dict changes them, e.g. ``{"max_share": 0.5, "max_labels": 3}``;
        False: new labels only.
    oos : {"auto", "cross_val", "pick"}
        Where the out-of-sample probabilities cleanlab needs come from. ``"cross_val"``: every round,
        ``folds`` models on the current labels give the labelled examples' probabilities and, averaged,
        the pool's (cleanlab's reference protocol; for the AutoGluon learner the fold models are cached
        embeddings + logistic regression, see :meth:`autoal.learners.Learner.fold_learner`).
        ``"pick"``: the probabilities each example had when it was picked (cross-validated once for
        the initial set), the pool scored by the full model. ``"auto"``: ``"cross_val"`` with several
        annotators and relabeling, else ``"pick"``.
    folds : int
        Folds of ``oos="cross_val"`` (at least 2; fewer when there are fewer labelled examples).
    output_dir : path-like, optional
        Folder for the run's files; default a new temporary folder (nothing is written to the
        current directory).
    random_state : int
        Seeds the holdout split, the initial set, random scores, tie-breaking and cross-validation.
    target_accuracy : float, optional
        Stop once holdout accuracy reaches it.
    stop : None, "stable", dict or StablePredictions
        A stopping rule that needs no holdout (:mod:`autoal.rounds.stopping`): ``"stable"`` stops once the
        predictions on a seeded stop set of initially unlabelled examples agree between consecutive
        rounds with Cohen's kappa >= 0.99 for 3 rounds; a dict such as ``{"kappa": 0.98, "rounds": 2,
        "size": 500}`` changes the settings. Each round's kappa is in the history (``stop_kappa``).
    pool_subsample : int, optional
        Score only a seeded random subsample of this many unlabelled examples per round (cheaper
        rounds on big pools; ``n_scored`` in the history says how many were scored).
    scoring : None, "ray", str or RayScorer
        Where the pool is predicted (:mod:`autoal.rounds.scoring`): in this process (None), sharded over a
        local Ray runtime (``"ray"``) or a Ray cluster address (``"ray://host:10001"``, ``"auto"``).
    holdout_fraction : float
        Share of each class's labelled rows held out when ``test_df`` is not given; 0 for no holdout
        (accuracy is then NaN; use ``stop="stable"`` to stop).
    classes : list, optional
        The full class list (real mode, when some classes have no label yet).
    simulate : bool, optional
        None (default): simulation when every row of ``df`` has a label, real mode otherwise. False: a
        fully labelled ``df`` holds real labels, stored as annotator ``"given"`` for others to check
        (a relabel-only run); True: insist on simulation.
    drop_bad_images : bool
        Drop rows whose image is missing or unreadable instead of raising.
    check_images : {"auto", "all", "exists"}
        Before the run, every image file must exist and its header must be an image's of an accepted size
        (not a decompression bomb); ``"all"`` also decodes every one, ``"auto"`` (default) decodes all of up
        to 20,000 distinct files and a seeded sample of 2,000 of bigger sets (decoding a million images
        would take minutes), ``"exists"`` none. An image that fails to decode later is named by the learner
        that reads it.
    verbose : bool
        Print one progress line per round.
    final_learner : str, optional
        A learner name (e.g. ``"autogluon"``) fitted once on the run's consensus labels when the run has finished,
        measured on the same holdout beside the run's learner and saved in ``OUTPUT_DIR/final-model/``
        (:func:`autoal.rounds.final_model.train_final_model`; ``result.final`` holds its report). Not fitted when
        the run pauses for labels (``autoal train OUTPUT_DIR`` fits it later).
    final_learner_options : dict, optional
        Its options, as ``learner_options``.

    Returns
    -------
    RunResult
    """
    options = {name: value for name, value in locals().items() if name in CONFIG_FIELDS}
    if final_learner is not None:
        check_learner_choice(final_learner, final_learner_options)
    result = drive(_new_session(df, RunConfig(**options), test_df=test_df, annotators=annotators, output_dir=output_dir))
    if final_learner is not None:
        result.final = _final_model(result, final_learner, final_learner_options, verbose)
    return result


def _final_model(result, learner, options, verbose):
    """The final model of ``run(final_learner=...)``, or None (with a note) when the run paused for labels."""
    from autoal.rounds.final_model import train_final_model

    if result.summary.get("paused"):
        if verbose:
            print(f"autoal: no final model yet: the run is paused; `autoal train {result.output_dir} --learner "
                  f"{learner}` fits it once the labels are in")
        return None
    return train_final_model(result.output_dir, learner=learner, learner_options=options, verbose=verbose)


#: The options of :func:`run` that :class:`~autoal.rounds.config.RunConfig` holds (the rest: data, annotators, folder).
CONFIG_FIELDS = frozenset(f.name for f in dataclasses.fields(RunConfig))


def start_session(df, **options) -> Session:
    """Create a run exactly as :func:`run` does (same options) and return its :class:`~autoal.rounds.session.Session`
    without running any round: for callers that drive the steps themselves (a labelling server, a benchmark).
    """
    try:
        bound = inspect.signature(run).bind(df, **options)
    except TypeError as exc:
        raise InputError(f"{exc}; start_session takes the options of autoal.run") from None
    bound.apply_defaults()
    arguments = bound.arguments
    config = RunConfig(**{k: v for k, v in arguments.items() if k in CONFIG_FIELDS})
    return _new_session(df, config, test_df=arguments["test_df"], annotators=arguments["annotators"],
                        output_dir=arguments["output_dir"])


def _new_session(df, config: RunConfig, *, test_df, annotators, output_dir) -> Session:
    """Prepare the data, resolve the config's "auto" options, create the run's store; the session of round 0."""
    config.check_holdout(has_test_df=test_df is not None)
    model = make_learner(resolve_learner(config.learner, config.image_col), **config.learner_options)
    annotator_list = as_annotators(annotators)
    out = _checked_output_dir(output_dir)
    data = prepare_data(
        df, test_df=test_df, label=config.label, image_col=config.image_col, id_col=config.id_col,
        initial_per_class=config.initial_per_class, holdout_fraction=config.holdout_fraction, classes=config.classes,
        drop_bad_images=config.drop_bad_images, rng=np.random.default_rng(config.random_state),
        allow_unlabelled=config.initial != "random", check_images=config.check_images, simulate=config.simulate,
    )
    if not len(data.test) and test_df is None and config.holdout_fraction > 0:
        warnings.warn("autoal: no holdout: the data has no labels to set aside, so accuracy cannot be measured and "
                      "stays NaN for the whole run; to measure it, pass test_df (labelled examples of the same "
                      "classes); stop='stable' stops the run without a holdout", UserWarning, stacklevel=3)
    if not data.simulation and not annotator_list:
        n_missing = int(data.frame[config.label].isna().sum())
        raise InputError(
            f"df has {n_missing} rows without a label and no annotator was given: pass annotators=... "
            "(an Annotator or a function examples -> labels; CLI: --terminal NAME or --annotators alice,bob) "
            "to label them, or pass a fully labelled df to simulate labelling"
        )
    annotator_list = annotator_list or [OracleAnnotator()]
    if GIVEN in [a.name for a in annotator_list]:
        raise InputError(f"annotator name {GIVEN!r} is reserved for the labels df arrives with; choose another name")
    features = choose_features(data, model, label=config.label, image_col=config.image_col,
                               feature_cols=config.feature_cols, verbose=config.verbose)
    out = out or Path(tempfile.mkdtemp(prefix="autoal-run-"))
    _configure(model, config, data.classes, out, features)
    config = _with_chosen_learner_options(config, model, data.frame)
    auto = config.auto_options()
    config = config.resolved(n_annotators=len(annotator_list), embeddings=embeddings_available(model),
                             simulation=data.simulation, n_given=len(data.initial_ids),
                             coverage=learns_from_pool(model))
    settings = dict(config.to_settings(auto_options=auto), features=features, output_dir=str(out),
                    annotators=[a.spec() for a in annotator_list], annotator_names=[a.name for a in annotator_list],
                    embedding_cache=_embedding_cache(model, config.image_col))
    state = RunState.create(out, data, settings)
    try:
        return Session(state, config, model, annotator_list)
    except BaseException:  # e.g. an annotator's prepare raised: the store closed, the run's writer lock given back
        state.close()
        raise


def resume(run_dir, *, annotators=None, learner=None, strategy=None, n_rounds=None, verbose=None,
           partial=False) -> RunResult:
    """Continue a stopped run from its folder.

    Nothing committed is lost: the round in progress goes on from the step it was in (asking only for
    what is still missing), and the run goes on to ``n_rounds`` (the original number unless given).
    Annotators, learner and strategy are rebuilt from the saved settings; pass them again when they
    were custom objects or functions, which cannot be saved.

    Parameters
    ----------
    run_dir : path-like
        The run's folder.
    annotators, learner, strategy : optional
        Replacements for custom objects the settings cannot rebuild.
    n_rounds : int, optional
        The total number of query rounds.
    verbose : bool, optional
        Print progress lines (default: as the run was started).
    partial : bool
        When the round waits for labels from annotators who answer later (files, the labelling page),
        train on what has arrived and go on; their open examples stay theirs to answer.
    """
    return drive(resume_session(run_dir, annotators=annotators, learner=learner, strategy=strategy, n_rounds=n_rounds,
                                verbose=verbose), partial=partial)


def resume_session(run_dir, *, annotators=None, learner=None, strategy=None, n_rounds=None, verbose=None) -> Session:
    """Open a stopped run as :func:`resume` does and return its :class:`~autoal.rounds.session.Session` without
    running any step."""
    state = open_run(run_dir, writer=True)
    try:
        return _resumed_session(state, annotators, learner, strategy, n_rounds, verbose)
    except BaseException:
        state.close()
        raise


def _resumed_session(state, annotators, learner, strategy, n_rounds, verbose) -> Session:
    config = RunConfig.from_settings(state.settings, learner=learner, strategy=strategy)
    if n_rounds is not None:
        config = dataclasses.replace(config, n_rounds=n_rounds)
        state.update_settings(n_rounds=n_rounds)
    if verbose is not None:
        config = dataclasses.replace(config, verbose=verbose)
    annotator_list = _rebuild_annotators(state.settings, annotators)
    model = make_learner(resolve_learner(config.learner, config.image_col), **config.learner_options)
    _configure(model, config, state.data.classes, state.folder, state.settings.get("features"))
    model.resolve_options(state.data.frame)  # a learner given again decides from the same pool (stored: no-op)
    if not config.is_resolved:  # "auto" options: resolved again with today's facts (e.g. annotators who joined)
        config = config.resolved(n_annotators=len(annotator_list), embeddings=embeddings_available(model),
                                 simulation=state.data.simulation, n_given=len(state.data.initial_ids),
                                 coverage=learns_from_pool(model))
    return Session(state, config, model, annotator_list)


def _embedding_cache(model, image_col) -> str | None:
    """The embedding caches the run reads and writes (recorded with it): its learner's, else the shared default the
    diversity features use; None for a table."""
    return embedding_cache(model, image_col)


def _with_chosen_learner_options(config: RunConfig, model, pool) -> RunConfig:
    """The config with the options the learner chose from the pool (e.g. the embeddings learner's image size)
    added to ``learner_options``, so that the run stores them and a resumed run chooses the same."""
    chosen = model.resolve_options(pool)
    if not chosen or not isinstance(config.learner, str):
        return config
    return dataclasses.replace(config, learner_options={**config.learner_options, **chosen})


def _configure(model, config: RunConfig, classes, folder, features) -> None:
    model.configure(classes=classes, label=config.label, image_col=config.image_col, output_dir=folder,
                    random_state=config.random_state, feature_columns=features)


def drive(session: Session, *, partial=False) -> RunResult:
    """Run ``session``'s rounds until a stop reason, then write its files and return the result.

    Each round: stop? -> start (select and assign) -> ask -> wait for annotators who answer later?
    -> finish (consensus, train, evaluate, record). ``partial`` goes on past the first wait only.
    """
    try:
        try:
            reason, paused = _rounds(session, partial)
        except StopAnnotation as exc:
            reason = f"stopped by an annotator ({exc}); continue with autoal resume {session.state.folder}"
            paused = True
        return session.result(reason, paused=paused)
    finally:
        if session.scorer is not None:
            session.scorer.shutdown()
        session.state.close()


def _rounds(session: Session, partial: bool) -> tuple:
    """Run rounds until a stop reason; returns ``(reason, paused)``, paused when the run waits for answers."""
    while True:
        reason = session.stop_reason()
        if reason:
            return reason, False
        r = session.next_round
        try:
            session.start_round(r)
        except PoolExhausted as exhausted:
            return str(exhausted), False
        session.ask(r)
        waiting = session.waiting(r)
        if waiting and not partial:
            return waiting, True
        partial = False
        session.finish_round(r)


def _rebuild_annotators(settings, annotators) -> list:
    if annotators is not None:
        return as_annotators(annotators)
    missing = [n for n, s in zip(settings["annotator_names"], settings["annotators"]) if s is None]
    if missing:
        raise InputError(f"annotators {missing} were custom objects or functions and cannot be rebuilt; pass "
                         "annotators=[...] to resume")
    return [annotator_from_spec(s) for s in settings["annotators"]]


def _checked_output_dir(output_dir) -> Path | None:
    """The run folder asked for, checked to be able to take a new run; None for a new temporary one."""
    if output_dir is None:
        return None
    out = Path(output_dir).expanduser()
    check_new_run_folder(out)
    return out
