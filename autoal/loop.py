"""The active-learning loop: ``autoal.run(df)`` and ``autoal.resume(run_dir)``.

A run's state lives in its folder's store, ``run.sqlite`` (:mod:`autoal.store`): the examples, every
annotation, who was asked what, skips, the out-of-sample probabilities and each finished round's
record, all committed as they happen. A run that stopped for any reason (a crash, ``kill -9``, a
person pressing ``q``, labels awaited from files) continues with :func:`resume` from the step it was
in. The rounds themselves are the steps of :class:`autoal.session.Session`; :func:`drive` runs them.
"""

from __future__ import annotations

import inspect
import tempfile
from pathlib import Path

import numpy as np

from .annotators import OracleAnnotator, StopAnnotation, annotator_from_spec, as_annotators
from .batching import check_batch_rule
from .cold_start import INITIAL_RULES
from .data import prepare_data
from .errors import InputError
from .feature_columns import choose_features
from .learners import make_learner, resolve_learner
from .relabel_policy import make_relabel_policy
from .result import RunResult
from .run_state import GIVEN, RunState, check_new_run_folder, open_run
from .scoring import make_scorer
from .session import Session
from .stopping import make_stop_rule
from .strategies import get_strategy, resolve_strategy

__all__ = ["run", "resume", "drive", "start_session", "resume_session", "RunResult", "OOS_MODES"]

#: Values of ``oos=``.
OOS_MODES = ("auto", "cross_val", "pick")


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
        (:mod:`autoal.feature_columns`). A list names the columns (their kinds inferred); a dict
        ``{column: "numeric" | "categorical" | "text"}`` also sets their kinds. Text columns need a text
        model (AutoGluon learner with ``learner_options={"text_checkpoint": PATH}``), or the tabular
        learner's n-gram features.
    strategy : str or callable
        ``"auto"`` (default: the recommended combination, see README "Measured": margin with one
        annotator, ActiveLab with several, with ``batch`` and ``initial`` ``"kmeans"`` when embeddings
        are available), ``"activelab"``, ``"random"``, ``"least_confidence"``, ``"margin"``,
        ``"entropy"`` or a callable (see :mod:`autoal.strategies`); lower scores are asked first. A
        named strategy runs plain (top-k batches, random initial set) unless ``batch``/``initial`` say otherwise.
    batch : str
        How a batch is drawn from the scores (:mod:`autoal.batching`): ``"topk"`` (the lowest
        scores), ``"kmeans"`` (the lowest-scoring candidate of each k-means cluster of the
        ``candidates_factor x batch_size`` lowest-scoring candidates' embeddings) or ``"auto"``:
        ``"kmeans"`` with ``strategy="auto"`` when embeddings are available (the learner's features,
        or the packaged pretrained backbone), else ``"topk"``.
    candidates_factor : float
        Shortlist size of ``batch="kmeans"``, in batches (default 10).
    initial : str
        ``"auto"``: in simulation like ``batch`` (``"kmeans"`` with ``strategy="auto"`` and
        embeddings, else ``"random"``); in real mode the given labels start the run, and a df with no
        label at all starts with ``"kmeans"``.
        ``"random"``: in simulation, ``initial_per_class`` random examples per class. ``"kmeans"``
        (cold start, :mod:`autoal.cold_start`): the most typical example of each of k k-means
        clusters of the pool's embeddings, k = ``initial_per_class`` x classes in simulation; in real
        mode round 0 asks the annotators for ``batch_size`` typical examples besides any given labels.
    batch_size : int
        Annotations asked per round (fewer when the candidates run out).
    n_rounds : int
        Query rounds after round 0.
    initial_per_class : int
        Examples per class labelled before round 1 (simulation mode).
    learner : str or Learner
        ``"auto"`` (default: ``"embeddings"`` with an image column, the most accuracy per minute on a CPU;
        ``"tabular"`` without, see :func:`autoal.learners.resolve_learner`), ``"autogluon"``
        (MultiModalPredictor on the image and the feature columns), ``"embeddings"``, ``"tabular"``
        (TabularPredictor on the feature columns), ``"fast"`` or a :class:`autoal.learners.Learner` instance.
    learner_options : dict, optional
        Keyword arguments for a named learner, e.g. ``{"time_limit": 60, "checkpoint": "my/ckpt"}``.
    annotators : Annotator, callable or list, optional
        Who labels picked examples; required in real mode. See :func:`autoal.simulated_annotators`.
    relabel : bool, dict or RelabelPolicy
        With several annotators and a strategy that scores labelled examples (ActiveLab), let a
        batch mix new labels and extra labels for examples whose consensus is shaky. True: the
        default guards (:class:`autoal.relabel_policy.RelabelPolicy`: a warm-up before relabel scores
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
        A stopping rule that needs no holdout (:mod:`autoal.stopping`): ``"stable"`` stops once the
        predictions on a seeded stop set of initially unlabelled examples agree between consecutive
        rounds with Cohen's kappa >= 0.99 for 3 rounds; a dict such as ``{"kappa": 0.98, "rounds": 2,
        "size": 500}`` changes the settings. Each round's kappa is in the history (``stop_kappa``).
    pool_subsample : int, optional
        Score only a seeded random subsample of this many unlabelled examples per round (cheaper
        rounds on big pools; ``n_scored`` in the history says how many were scored).
    scoring : None, "ray", str or RayScorer
        Where the pool is predicted (:mod:`autoal.scoring`): in this process (None), sharded over a
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
        Before the run, every image file must exist; ``"all"`` also decodes every one, ``"auto"``
        (default) decodes all of up to 20,000 distinct files and a seeded sample of 2,000 of bigger
        sets (decoding a million images would take minutes), ``"exists"`` none. An image that fails
        to decode later is named by the learner that reads it.
    verbose : bool
        Print one progress line per round.

    Returns
    -------
    RunResult
    """
    return drive(_new_session(**locals()))


def start_session(df, **options) -> Session:
    """Create a run exactly as :func:`run` does (same options) and return its :class:`~autoal.session.Session`
    without running any round: for callers that drive the steps themselves (a labelling server, a benchmark).
    """
    try:
        bound = inspect.signature(run).bind(df, **options)
    except TypeError as exc:
        raise InputError(f"{exc}; start_session takes the options of autoal.run") from None
    bound.apply_defaults()
    return _new_session(**bound.arguments)


def _new_session(df, *, test_df, label, image_col, id_col, feature_cols,
                 strategy, batch, candidates_factor, initial, batch_size, n_rounds, initial_per_class,
                 learner, learner_options, annotators, relabel, oos, folds, output_dir, random_state,
                 target_accuracy, stop, pool_subsample, scoring, holdout_fraction, classes, simulate,
                 drop_bad_images, check_images, verbose) -> Session:
    learner = resolve_learner(learner, image_col)  # "auto": embeddings with images, tabular without
    settings = {k: v for k, v in locals().items()
                if k not in ("df", "test_df", "annotators", "learner", "strategy", "stop", "scoring")}
    settings["learner"] = learner if isinstance(learner, str) else None
    settings["strategy"] = strategy if isinstance(strategy, str) else None
    settings["scoring"] = scoring if scoring is None or isinstance(scoring, str) else None
    _check_arguments(batch_size, n_rounds, initial_per_class, target_accuracy, holdout_fraction)
    _check_loop_options(batch, candidates_factor, initial, pool_subsample, target_accuracy, holdout_fraction, test_df)
    _check_scoring_options(oos, folds)
    policy = make_relabel_policy(relabel)
    settings["relabel"] = policy.to_dict() if policy is not None else False
    stop_rule = make_stop_rule(stop)
    scorer = make_scorer(scoring)
    settings["stop"] = stop_rule.to_dict() if stop_rule is not None else None
    model = make_learner(learner, **(learner_options or {}))
    annotator_list = as_annotators(annotators)
    strategy_used = resolve_strategy(strategy, len(annotator_list))
    score_fn = get_strategy(strategy_used, random_state=random_state)
    settings["strategy_used"] = strategy_used if isinstance(strategy_used, str) else None
    out = _checked_output_dir(output_dir)
    data = prepare_data(
        df, test_df=test_df, label=label, image_col=image_col, id_col=id_col, initial_per_class=initial_per_class,
        holdout_fraction=holdout_fraction, classes=classes, drop_bad_images=drop_bad_images,
        rng=np.random.default_rng(random_state), allow_unlabelled=initial != "random", check_images=check_images,
        simulate=simulate,
    )
    if not data.simulation and not annotator_list:
        n_missing = int(data.frame[label].isna().sum())
        raise InputError(
            f"df has {n_missing} rows without a label and no annotator was given: pass annotators=... "
            "(an Annotator or a function examples -> labels; CLI: --terminal NAME or --annotators alice,bob) "
            "to label them, or pass a fully labelled df to simulate labelling"
        )
    annotator_list = annotator_list or [OracleAnnotator()]
    if GIVEN in [a.name for a in annotator_list]:
        raise InputError(f"annotator name {GIVEN!r} is reserved for the labels df arrives with; choose another name")
    settings["features"] = choose_features(data, model, label=label, image_col=image_col, feature_cols=feature_cols,
                                           verbose=verbose)
    out = out or Path(tempfile.mkdtemp(prefix="autoal-run-"))
    settings.update(output_dir=str(out), annotators=[a.spec() for a in annotator_list],
                    annotator_names=[a.name for a in annotator_list])
    state = RunState.create(out, data, settings)
    return Session(state, model, score_fn, annotator_list, scoring=scorer)


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
    """Open a stopped run as :func:`resume` does and return its :class:`~autoal.session.Session` without
    running any step."""
    state = open_run(run_dir)
    settings = state.settings
    if n_rounds is not None:
        _check_arguments(settings["batch_size"], n_rounds, 1, None, 0.5)
        state.update_settings(n_rounds=n_rounds)
    if verbose is not None:
        settings["verbose"] = verbose
    annotator_list = _rebuild_annotators(settings, annotators)
    if learner is None and settings["learner"] is None:
        raise InputError("the run used a custom Learner instance, which cannot be rebuilt; pass learner=... to resume")
    if strategy is None and settings["strategy"] is None:
        raise InputError("the run used a custom strategy function, which cannot be rebuilt; pass strategy=... to resume")
    model = make_learner(learner or settings["learner"], **({} if learner is not None else settings["learner_options"] or {}))
    score_fn = get_strategy(resolve_strategy(strategy or settings["strategy"], len(annotator_list)),
                            random_state=settings["random_state"])
    return Session(state, model, score_fn, annotator_list, scoring=settings.get("scoring"))


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
        reason = session.start_round(r)
        if reason:
            return reason, False
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


def _check_arguments(batch_size, n_rounds, initial_per_class, target_accuracy, holdout_fraction):
    for name, value in (("batch_size", batch_size), ("n_rounds", n_rounds), ("initial_per_class", initial_per_class)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise InputError(f"{name} must be a positive integer, got {value!r}")
    if target_accuracy is not None and not 0 < target_accuracy <= 1:
        raise InputError(f"target_accuracy must be in (0, 1], got {target_accuracy!r}")
    if isinstance(holdout_fraction, bool) or not isinstance(holdout_fraction, (int, float)) or not 0 <= holdout_fraction < 1:
        raise InputError(f"holdout_fraction must be in [0, 1) (0: no holdout), got {holdout_fraction!r}")


def _check_loop_options(batch, candidates_factor, initial, pool_subsample, target_accuracy, holdout_fraction, test_df):
    check_batch_rule(batch, candidates_factor)
    if initial not in INITIAL_RULES + ("auto",):
        raise InputError(f"unknown initial rule {initial!r}; choose one of {', '.join(INITIAL_RULES + ('auto',))}")
    if pool_subsample is not None and (isinstance(pool_subsample, bool) or not isinstance(pool_subsample, (int, np.integer))
                                       or pool_subsample < 1):
        raise InputError(f"pool_subsample must be a positive integer or None, got {pool_subsample!r}")
    if target_accuracy is not None and test_df is None and holdout_fraction == 0:
        raise InputError("target_accuracy needs a holdout, and holdout_fraction=0 keeps none; pass test_df, a "
                         "holdout_fraction above 0, or stop='stable' to stop without a holdout")


def _check_scoring_options(oos, folds):
    if oos not in OOS_MODES:
        raise InputError(f"unknown oos {oos!r}; choose one of {', '.join(OOS_MODES)}")
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise InputError(f"folds must be an integer >= 2, got {folds!r}")


def _checked_output_dir(output_dir) -> Path | None:
    """The run folder asked for, checked to be able to take a new run; None for a new temporary one."""
    if output_dir is None:
        return None
    out = Path(output_dir).expanduser()
    check_new_run_folder(out)
    return out
