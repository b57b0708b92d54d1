"""The active-learning loop: ``autoal.run(df)`` and ``autoal.resume(run_dir)``.

A run's state lives in its folder's store, ``run.sqlite`` (:mod:`autoal.store.run_store`): the examples, every
annotation, who was asked what, skips, the out-of-sample probabilities and each finished round's
record, all committed as they happen. A run that stopped for any reason (a crash, ``kill -9``, a
person pressing ``q``, labels awaited from files) continues with :func:`resume` from the step it was
in. :mod:`autoal.rounds.setup` makes or opens the run's :class:`~autoal.rounds.session.Session`; :func:`drive`
advances it.
"""

from __future__ import annotations

import dataclasses
import inspect

from autoal.annotation.annotators import StopAnnotation
from autoal.errors import InputError
from autoal.learners import check_learner_choice
from autoal.results.result import RunResult
from autoal.rounds.config import OOS_MODES, RunConfig
from autoal.rounds.outcomes import Stopped, Trained, Waiting
from autoal.rounds.session import Session
from autoal.rounds.setup import new_session, resume_session

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
        ``candidates_factor x batch_size`` lowest-scoring candidates' embeddings), ``"coverage-first"``
        (while the run has fewer than 5 labels a class, the examples that most raise how well the labels
        cover the pool, :mod:`autoal.query.herding`; then ``"kmeans"``) or ``"auto"``: with
        ``strategy="auto"`` and embeddings available (the learner's features, or the packaged pretrained
        backbone), ``"coverage-first"`` with the pool graph, else ``"kmeans"``; without embeddings
        ``"topk"``.
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
        Where the pool is predicted (:mod:`autoal.rounds.pool_prediction`): in this process (None), sharded over a
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
    config = RunConfig(
        label=label, image_col=image_col, id_col=id_col, feature_cols=feature_cols, strategy=strategy, batch=batch,
        candidates_factor=candidates_factor, initial=initial, batch_size=batch_size, n_rounds=n_rounds,
        initial_per_class=initial_per_class, learner=learner, learner_options=learner_options, relabel=relabel,
        oos=oos, folds=folds, random_state=random_state, target_accuracy=target_accuracy, stop=stop,
        pool_subsample=pool_subsample, scoring=scoring, holdout_fraction=holdout_fraction, classes=classes,
        simulate=simulate, drop_bad_images=drop_bad_images, check_images=check_images, verbose=verbose)
    if final_learner is not None:
        check_learner_choice(final_learner, final_learner_options)
    result = drive(new_session(df, config, test_df=test_df, annotators=annotators, output_dir=output_dir))
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
    return new_session(df, config, test_df=arguments["test_df"], annotators=arguments["annotators"],
                        output_dir=arguments["output_dir"])


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


def drive(session: Session, *, partial=False) -> RunResult:
    """Advance ``session`` until it stops or waits for answers, then write its files, close it and return the result.

    ``partial`` trains past the first wait for annotators who answer later (on what has arrived).
    """
    with session:
        try:
            reason, paused = _advance_until_pause(session, partial)
        except StopAnnotation as exc:
            reason = f"stopped by an annotator ({exc}); continue with autoal resume {session.state.folder}"
            paused = True
        return session.result(reason, paused=paused)


def _advance_until_pause(session: Session, partial: bool) -> tuple:
    """``(reason, paused)``: the stop reason, or what the run waits for (paused)."""
    while True:
        outcome = session.advance(train=partial)
        if isinstance(outcome, Stopped):
            return outcome.reason, False
        if isinstance(outcome, Waiting):
            return outcome.message, True
        if isinstance(outcome, Trained):
            partial = False
