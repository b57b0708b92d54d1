"""The active-learning loop: ``autoal.run(df)`` and ``autoal.resume(run_dir)``.

A run's state lives in its folder: ``settings.json`` and ``data.pkl`` (written at the start), the
label store ``labels.sqlite`` (every annotation, and who was asked what in each round), and
``history.csv`` (one row per finished round). Everything else is derived from them, so a run that
stopped for any reason (a crash, ``kill -9``, a person pressing ``q``, labels awaited from files)
continues with :func:`resume` from the round it was in.
"""

from __future__ import annotations

import json
import pickle
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .annotators import Annotator, OracleAnnotator, StopAnnotation, annotator_from_spec, as_annotators
from .batching import check_batch_rule, kmeans_batch
from .cold_start import INITIAL_RULES, typical_examples
from .consensus import consensus_labels, majority_vote
from .data import UNKNOWN, PreparedData, match_class, prepare_data
from .errors import AnnotationError, InputError, first_few
from .learners import Learner, make_learner
from .out_of_sample import cross_val_probs
from .reporting import RunReporter, read_history
from .run_folder import open_run
from .scoring import make_scorer, predict_pool
from .selection import select_lowest
from .stopping import cohen_kappa, make_stop_rule
from .store import STORE_FILE, LabelStore
from .strategies import call_strategy, get_strategy, resolve_strategy

__all__ = ["run", "resume", "RunResult"]

GIVEN = "given"  # pseudo-annotator of the labels a real-mode df arrives with


@dataclass
class RunResult:
    """What :func:`run` and :func:`resume` return.

    Attributes
    ----------
    history : DataFrame
        One row per round (round 0 = the model on the initial labels): ``round``, ``n_labeled``,
        ``n_annotations``, ``n_new_labels``, ``n_relabels``, ``n_multi_labeled``, ``accuracy``,
        ``consensus_accuracy`` (simulation), per-stage seconds, ``picked_ids`` and more.
    labels : DataFrame
        Every annotation: ``example_id, annotator, label, round, timestamp``.
    consensus : DataFrame
        Per labelled example (index: id): ``label`` (consensus), ``quality``, ``n_annotations``.
    annotator_quality : DataFrame
        Per annotator: ``n_labels``, ``estimated_quality`` and, in simulation, ``true_accuracy``.
    learner : Learner
        The learner after the last round.
    classes : list
        The run's class list (column order of every ``predict_proba``).
    test_ids : list
        Ids of the holdout rows accuracy is measured on.
    output_dir : Path
        The run's folder.
    summary : dict
        Settings, versions, dataset sizes, final accuracy and why the run stopped.
    """

    history: pd.DataFrame
    labels: pd.DataFrame
    consensus: pd.DataFrame
    annotator_quality: pd.DataFrame
    learner: Learner
    classes: list
    test_ids: list
    output_dir: Path
    summary: dict = field(default_factory=dict)

    @property
    def predictor(self):
        """The final trained model (AutoGluon's ``MultiModalPredictor`` for the default learner)."""
        for attribute in ("predictor_", "model_"):
            if getattr(self.learner, attribute, None) is not None:
                return getattr(self.learner, attribute)
        return self.learner

    @property
    def final_accuracy(self) -> float:
        """Holdout accuracy after the last round."""
        return float(self.history["accuracy"].iloc[-1])


def run(
    df,
    *,
    test_df=None,
    label="label",
    image_col="image_path",
    id_col=None,
    strategy="auto",
    batch="auto",
    candidates_factor=10,
    initial="auto",
    batch_size=150,
    n_rounds=10,
    initial_per_class=8,
    learner="autogluon",
    learner_options=None,
    annotators=None,
    relabel=True,
    output_dir=None,
    random_state=0,
    target_accuracy=None,
    stop=None,
    pool_subsample=None,
    scoring=None,
    holdout_fraction=0.2,
    classes=None,
    drop_bad_images=False,
    verbose=True,
) -> RunResult:
    """Run active learning on ``df`` and return the per-round history, the labels and the final model.

    Parameters
    ----------
    df : DataFrame
        One row per example with ``label`` and ``image_col`` columns (other columns are features).
        Fully labelled: simulation mode (all but ``initial_per_class`` labels per class are hidden;
        the annotators, or a perfect oracle when none is given, label what is picked). With NaN
        labels: real mode (the NaN rows are the pool and ``annotators`` label them).
    test_df : DataFrame, optional
        Labelled holdout. Default: a seeded stratified ``holdout_fraction`` of the labelled rows.
    label, image_col : str
        Column names.
    id_col : str, optional
        Column of stable example ids; default the DataFrame index.
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
        ``"autogluon"`` (default), ``"fast"`` or a :class:`autoal.learners.Learner` instance.
    learner_options : dict, optional
        Keyword arguments for a named learner, e.g. ``{"time_limit": 60, "checkpoint": "my/ckpt"}``.
    annotators : Annotator, callable or list, optional
        Who labels picked examples; required in real mode. See :func:`autoal.simulated_annotators`.
    relabel : bool
        With several annotators and a strategy that scores labelled examples (ActiveLab), let a
        batch mix new labels and extra labels for examples whose consensus is shaky.
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
    drop_bad_images : bool
        Drop rows whose image is missing or unreadable instead of raising.
    verbose : bool
        Print one progress line per round.

    Returns
    -------
    RunResult
    """
    settings = {k: v for k, v in locals().items()
                if k not in ("df", "test_df", "annotators", "learner", "strategy", "stop", "scoring")}
    settings["learner"] = learner if isinstance(learner, str) else None
    settings["strategy"] = strategy if isinstance(strategy, str) else None
    settings["scoring"] = scoring if scoring is None or isinstance(scoring, str) else None
    _check_arguments(batch_size, n_rounds, initial_per_class, target_accuracy, holdout_fraction)
    _check_loop_options(batch, candidates_factor, initial, pool_subsample, target_accuracy, holdout_fraction, test_df)
    stop_rule = make_stop_rule(stop)
    scorer = make_scorer(scoring)
    settings["stop"] = stop_rule.to_dict() if stop_rule is not None else None
    model = make_learner(learner, **(learner_options or {}))
    annotator_list = as_annotators(annotators)
    strategy_used = resolve_strategy(strategy, len(annotator_list))
    score_fn = get_strategy(strategy_used, random_state=random_state)
    settings["strategy_used"] = strategy_used if isinstance(strategy_used, str) else None
    data = prepare_data(
        df, test_df=test_df, label=label, image_col=image_col, id_col=id_col, initial_per_class=initial_per_class,
        holdout_fraction=holdout_fraction, classes=classes, drop_bad_images=drop_bad_images,
        rng=np.random.default_rng(random_state), allow_unlabelled=initial != "random",
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
    out = _make_output_dir(output_dir)
    store = LabelStore(out / STORE_FILE)
    settings.update(run_id=store.run_id, output_dir=str(out), annotators=[a.spec() for a in annotator_list],
                    annotator_names=[a.name for a in annotator_list])
    (out / "settings.json").write_text(json.dumps(settings, indent=2, default=str))
    with open(out / "data.pkl", "wb") as f:
        pickle.dump(data, f)
    return _Session(data, settings, store, model, score_fn, annotator_list, out, scoring=scorer).run()


def resume(run_dir, *, annotators=None, learner=None, strategy=None, n_rounds=None, verbose=None) -> RunResult:
    """Continue a stopped run from its folder: its settings, data and label store.

    Nothing committed is lost: annotations already in the store are kept, the round in progress
    asks only for what is still missing, and the run goes on to ``n_rounds`` (the original number
    unless given). Annotators, learner and strategy are rebuilt from the saved settings; pass them
    again when they were custom objects or functions, which cannot be saved.
    """
    out = Path(run_dir).expanduser()
    settings, data, store = open_run(out)
    if n_rounds is not None:
        _check_arguments(settings["batch_size"], n_rounds, 1, None, 0.5)
        settings["n_rounds"] = n_rounds
    if verbose is not None:
        settings["verbose"] = verbose
    if annotators is not None:
        annotator_list = as_annotators(annotators)
    else:
        missing = [n for n, s in zip(settings["annotator_names"], settings["annotators"]) if s is None]
        if missing:
            raise InputError(f"annotators {missing} were custom objects or functions and cannot be rebuilt; pass annotators=[...] to resume")
        annotator_list = [annotator_from_spec(s) for s in settings["annotators"]]
    if learner is None and settings["learner"] is None:
        raise InputError("the run used a custom Learner instance, which cannot be rebuilt; pass learner=... to resume")
    if strategy is None and settings["strategy"] is None:
        raise InputError("the run used a custom strategy function, which cannot be rebuilt; pass strategy=... to resume")
    model = make_learner(learner or settings["learner"], **({} if learner is not None else settings["learner_options"] or {}))
    strategy = resolve_strategy(strategy or settings["strategy"], len(annotator_list))
    score_fn = get_strategy(strategy, random_state=settings["random_state"])
    return _Session(data, settings, store, model, score_fn, annotator_list, out, history=read_history(out),
                    scoring=settings.get("scoring")).run()


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


def _make_output_dir(output_dir) -> Path:
    if output_dir is None:
        return Path(tempfile.mkdtemp(prefix="autoal-run-"))
    out = Path(output_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise InputError(f"output_dir {str(out)!r} is a file; pass a folder")
    if (out / "settings.json").exists() or (out / STORE_FILE).exists():
        raise InputError(f"output_dir {str(out)!r} already holds a run; resume it with autoal.resume({str(out)!r}) "
                         "(CLI: autoal resume DIR), or choose a new folder")
    out.mkdir(parents=True, exist_ok=True)
    return out


class _Session:
    """One run in progress: rounds of scoring, asking, consensus and training, all state in the store."""

    def __init__(self, data: PreparedData, settings, store, learner, score_fn, annotators, out, history=None,
                 scoring=None):
        self.data, self.settings, self.store, self.learner = data, settings, store, learner
        self.scorer = make_scorer(scoring)
        self.stop_rule = make_stop_rule(settings.get("stop"))
        self._feature_learner = None
        self.score_fn, self.annotators, self.out = score_fn, annotators, Path(out)
        self.label = settings["label"]
        self.verbose = settings["verbose"]
        self.names = [a.name for a in annotators]
        self.by_name = {a.name: a for a in annotators}
        self.class_index = {c: i for i, c in enumerate(data.classes)}
        self.truth = data.frame[self.label] if data.simulation else None
        self.inputs = data.frame.drop(columns=[self.label])  # what learners and annotators see: no labels
        self.pick_probs = self._load_pick_probs()
        self.cv_probs: dict = {}
        self.learner.configure(classes=data.classes, label=self.label, image_col=settings["image_col"],
                               output_dir=self.out, random_state=settings["random_state"])
        for annotator in annotators:
            annotator.prepare(classes=data.classes, true_labels=self.truth, image_col=settings["image_col"])
        self.reporter = RunReporter(self.out, settings, data, verbose=self.verbose, rows=history)
        self.consensus = None
        self.fitted = False
        self.batch_rule = self._resolve_rule(settings.get("batch", "topk"), "kmeans", "topk")
        self.initial_rule = self._resolve_rule(settings.get("initial", "random"), "kmeans", "random")
        if not data.simulation and settings.get("initial") == "auto":  # real mode: the given labels start the run,
            self.initial_rule = "random" if len(data.initial_ids) else "kmeans"  # a cold start only with none
        self.stop_ids = self._stop_set()
        self.stop_preds = self._load_pickle("stop_predictions.pkl")

    # ----- the rounds -------------------------------------------------------------------------
    def run(self) -> RunResult:
        try:
            stop_reason = self._rounds()
        except StopAnnotation as exc:
            stop_reason = f"stopped by an annotator ({exc}); continue with autoal resume {self.out}"
        finally:
            if self.scorer is not None:
                self.scorer.shutdown()
        labels, annotators = self.store.annotations(), self._annotator_table()
        history = self.reporter.finish(labels, stop_reason, annotators)
        result = RunResult(history, labels, self._consensus_table(), annotators,
                           self.learner, self.data.classes, list(self.data.test.index), self.out, self.reporter.summary)
        self.store.close()
        return result

    def _rounds(self) -> str:
        rows = self.reporter.rows
        start = rows[-1]["round"] + 1 if rows else 0
        target = self.settings["target_accuracy"]
        for r in range(start, self.settings["n_rounds"] + 1):
            if rows and target is not None and rows[-1]["accuracy"] >= target:
                return f"target accuracy {target} reached"
            if rows and self._predictions_stable(rows):
                return self._stable_message()
            before = self._labelled_by(before_round=r)
            timings = {}
            if r == 0:
                self._label_initial_set()
            else:
                pending = self.store.assignments(r)
                if pending.empty:
                    if not self._anything_to_ask(before):
                        return "pool exhausted: every example has a label from every annotator"
                    pairs, timings = self._select(r, before)
                    if not pairs:
                        return "pool exhausted: no example left to label"
                    self.store.assign(r, pairs)
                self._ask_pending(r)
                waiting = self._waiting_for(r)
                if waiting:
                    return waiting
            labels = self.store.annotations()
            picked = list(dict.fromkeys(labels.loc[labels["round"] == r, "example_id"]))  # also those given before a restart
            self.reporter.add_round(self._train_and_evaluate(r, before, picked, timings))
        if target is not None and rows[-1]["accuracy"] >= target:
            return f"target accuracy {target} reached"
        if self._predictions_stable(rows):
            return self._stable_message()
        return f"{self.settings['n_rounds']} rounds done"

    def _predictions_stable(self, rows) -> bool:
        rule = self.stop_rule
        return rule is not None and not rule.report_only and rule.should_stop([row.get("stop_kappa") for row in rows])

    def _stable_message(self) -> str:
        rule = self.stop_rule
        return (f"predictions stable: Cohen's kappa on the {len(self.stop_ids)}-example stop set >= {rule.kappa} "
                f"for {rule.rounds} rounds")

    def _anything_to_ask(self, labelled_by) -> bool:
        if len(labelled_by) < len(self.data.frame):
            return True
        return self.settings.get("relabel", True) and any(
            a not in done for done in labelled_by.values() for a in self.names)

    def _label_initial_set(self) -> None:
        kmeans = self.initial_rule == "kmeans"
        if not self.data.simulation:  # real mode: the labels df arrived with
            done = set(self._labelled_by())
            for i in self.data.initial_ids:
                if i not in done:
                    self.store.add(i, GIVEN, self.data.frame.at[i, self.label], round=0)
            if not kmeans:
                return
        if self.store.assignments(0).empty:
            ids = self._typical_initial_set() if kmeans else list(self.data.initial_ids)
            asking = [a.name for a in self.annotators if not a.answers_later]
            if not asking:
                raise InputError("the initial examples need an annotator that answers at once (simulated, oracle, "
                                 "terminal or a function), not only file-based ones")
            self.store.assign(0, [(i, asking[k % len(asking)]) for k, i in enumerate(ids)])
        self._ask_pending(0)

    def _typical_initial_set(self) -> list:
        """Cold start: the most typical unlabelled example of each of k k-means clusters."""
        given = set(self._labelled_by())
        pool = [i for i in self.data.frame.index if i not in given]
        k = len(self.data.initial_ids) if self.data.simulation else self.settings["batch_size"]
        rows = typical_examples(self._features_of(pool), k, random_state=self.settings["random_state"])
        return [pool[k] for k in rows]

    # ----- embeddings for diversity rules ----------------------------------------------------------
    def _resolve_rule(self, rule, diverse, plain) -> str:
        """An ``"auto"`` batch or initial rule: ``diverse`` for strategy="auto" with embeddings, else ``plain``."""
        if rule != "auto":
            return rule
        return diverse if self.settings.get("strategy") == "auto" and self._has_embeddings() else plain

    def _has_embeddings(self) -> bool:
        from .learners import Learner as BaseLearner

        if type(self.learner).features is not BaseLearner.features:
            return True
        from .backbones import pretrained_available

        return pretrained_available()

    def _features_of(self, ids) -> np.ndarray:
        """Embeddings of examples ``ids``: the learner's features, else the default pretrained backbone's."""
        frame = self.inputs.loc[list(ids)]
        features = self.learner.features(frame)
        if features is None:
            if self._feature_learner is None:
                from .learners import EmbeddingLearner

                self._feature_learner = EmbeddingLearner().configure(
                    classes=self.data.classes, label=self.label, image_col=self.settings["image_col"],
                    output_dir=self.out, random_state=self.settings["random_state"])
            features = self._feature_learner.features(frame)
        return np.asarray(features)

    # ----- scoring and selection ----------------------------------------------------------------
    def _select(self, r, labelled_by):
        labelled = list(labelled_by)
        pool = self._pool_to_score(r, labelled_by)
        if not self.fitted:  # a resumed run retrains on the labels so far before scoring
            self._fit(self._training_set())
        t = time.perf_counter()
        probs = self._predict(self.inputs.loc[labelled + pool])
        predict_seconds = time.perf_counter() - t
        workers = {"scoring_workers": self.scorer.last_info_["workers"]} if self.scorer is not None else {}
        t = time.perf_counter()
        columns = self._annotators_used()  # only annotators with labels: cleanlab rejects all-NaN columns
        matrix = self.store.matrix(labelled, columns, self.data.classes)
        labelled_probs = self._out_of_sample(labelled) if len(columns) > 1 else probs[: len(labelled)]
        scores_labelled, scores_pool = call_strategy(self.score_fn, matrix, labelled_probs, probs[len(labelled):])
        score_seconds = time.perf_counter() - t
        t = time.perf_counter()
        candidates, scores = list(pool), list(scores_pool)
        if self.settings.get("relabel", True) and scores_labelled is not None:
            for i, s in zip(labelled, scores_labelled):
                if any(a not in labelled_by[i] for a in self.names):
                    candidates.append(i)
                    scores.append(s)
        batch = self.settings["batch_size"]
        if batch > len(candidates) and self.verbose:
            print(f"  batch_size {batch} > {len(candidates)} examples left to label: taking all of them")
        rng = np.random.default_rng([self.settings["random_state"], r])
        if self.batch_rule == "kmeans":
            picked = kmeans_batch(candidates, scores, self._features_of, batch,
                                  candidates_factor=self.settings.get("candidates_factor", 10), random_state=rng)
        else:
            picked = select_lowest(candidates, scores, batch, random_state=rng)
        pool_position = {i: k for k, i in enumerate(pool)}
        for i in picked:
            if i in pool_position:
                self.pick_probs[i] = probs[len(labelled) + pool_position[i]]
        self._save_pick_probs()
        pairs = self._assign(picked, labelled_by)
        select_seconds = time.perf_counter() - t
        return pairs, {"predict_seconds": predict_seconds, "score_seconds": score_seconds, "select_seconds": select_seconds,
                       "n_scored": len(pool), "batch_rule": self.batch_rule, **workers}

    def _pool_to_score(self, r, labelled_by) -> list:
        """The unlabelled ids scored this round: all, or a seeded ``pool_subsample`` of them."""
        pool = [i for i in self.data.frame.index if i not in labelled_by]
        n = self.settings.get("pool_subsample")
        if n is None or n >= len(pool):
            return pool
        rng = np.random.default_rng([self.settings["random_state"], r, 7])
        keep = set(rng.choice(len(pool), size=n, replace=False).tolist())
        return [i for k, i in enumerate(pool) if k in keep]

    def _predict(self, frame) -> np.ndarray:
        """The learner's probabilities for ``frame``, in this process or sharded over Ray (``scoring``)."""
        return predict_pool(self.learner, frame, self.scorer)

    def _assign(self, picked, labelled_by) -> list:
        """Give each picked example to the least-loaded annotator who has not labelled it yet."""
        load = dict.fromkeys(self.names, 0)
        pairs = []
        for k, i in enumerate(picked):
            eligible = [a for a in self.names if a not in labelled_by.get(i, ())]
            rotation = {a: (n - k) % len(self.names) for n, a in enumerate(self.names)}
            chosen = min(eligible, key=lambda a: (load[a], rotation[a]))
            load[chosen] += 1
            pairs.append((i, chosen))
        return pairs

    # ----- asking -------------------------------------------------------------------------------
    def _ask_pending(self, r) -> None:
        """Ask every in-process annotator for its unanswered examples of round ``r``; skipped
        examples go to the next annotator who has not labelled them."""
        asked = {}
        for _ in range(len(self.names)):
            pending = self.store.assignments(r, pending_only=True)
            keep = [not (a in self.by_name and self.by_name[a].answers_later) and (e, a) not in asked
                    for e, a in zip(pending["example_id"], pending["annotator"])]
            pending = pending.loc[np.array(keep, dtype=bool)]
            if pending.empty:
                break
            skipped = []
            for name, group in pending.groupby("annotator", sort=False):
                ids = group["example_id"].tolist()
                asked.update(dict.fromkeys(((e, name) for e in ids), True))
                if name not in self.by_name:
                    raise InputError(f"round {r} asked annotator {name!r}, who is not among this run's annotators "
                                     f"{self.names}; pass the run's annotators to resume")
                done = self._ask(self.by_name[name], ids, r)
                skipped += [i for i in ids if i not in set(done)]
            handover = self._hand_over(skipped, asked)
            if not handover:
                break
            self.store.assign(r, handover)

    def _hand_over(self, skipped, asked) -> list:
        labelled_by = self._labelled_by()
        pairs = []
        for i in skipped:
            nxt = [a for a in self.names if (i, a) not in asked and a not in labelled_by.get(i, ())
                   and not self.by_name[a].answers_later]
            if nxt:
                pairs.append((i, nxt[0]))
        return pairs

    def _ask(self, annotator: Annotator, ids, r) -> list:
        """Ask one annotator; commit each valid answer the moment it arrives; return the ids labelled."""
        frame = self.inputs.loc[ids]
        done, bad, n_answers = [], [], 0
        for example_id, answer in zip(ids, annotator.annotate(frame)):
            n_answers += 1
            value = self._to_class(answer)
            if value is None:
                continue
            if value is UNKNOWN:
                bad.append((example_id, answer))
                continue
            self.store.add(example_id, annotator.name, value, round=r)
            done.append(example_id)
        if bad:
            raise AnnotationError(
                f"annotator {annotator.name!r} gave labels that are not classes of this run: {first_few(bad)}; "
                f"valid classes: {first_few(self.data.classes, 20)}. Every valid answer is saved in the label store"
            )
        if n_answers != len(ids):
            raise AnnotationError(
                f"annotator {annotator.name!r} returned {n_answers} labels for {len(ids)} examples; return one "
                "label (or None to skip) per example. The answers given are saved in the label store"
            )
        return done

    def _waiting_for(self, r) -> str:
        """A pause message when this round waits for labels from outside and none has arrived yet."""
        later = [a.name for a in self.annotators if a.answers_later]
        if not later:
            return ""
        asked = self.store.assignments(r)
        asked = asked[asked["annotator"].isin(later)]
        pending = self.store.assignments(r, pending_only=True)
        pending = pending[pending["annotator"].isin(later)]
        if asked.empty or len(pending) < len(asked):
            return ""
        counts = ", ".join(f"{a} ({n})" for a, n in pending["annotator"].value_counts().items())
        return (f"round {r} waits for labels from {counts}: run `autoal export-batch {self.out} --annotator NAME`, "
                f"label the CSV, `autoal import-labels {self.out} FILE.csv --annotator NAME`, then `autoal resume {self.out}`")

    def _to_class(self, answer):
        return match_class(answer, self.data.classes)

    # ----- consensus and training -------------------------------------------------------------------
    def _labelled_by(self, before_round=None) -> dict:
        """Example id -> set of annotators who labelled it (only in rounds before ``before_round`` if
        given), in the order examples were first labelled."""
        labels = self.store.annotations()
        if before_round is not None:
            labels = labels[labels["round"] < before_round]
        out: dict = {}
        for e, a in zip(labels["example_id"], labels["annotator"]):
            out.setdefault(e, set()).add(a)
        return out

    def _annotators_used(self) -> list:
        return list(dict.fromkeys(self.store.annotations()["annotator"]))

    def _matrix_columns(self) -> list:
        used = self._annotators_used()
        return used + [a for a in self.names if a not in used]

    def _out_of_sample(self, ids) -> np.ndarray:
        """Probabilities from a model that did not train on each example (see out_of_sample.py)."""
        missing = [i for i in ids if i not in self.pick_probs and i not in self.cv_probs]
        if missing:
            columns = self._matrix_columns()
            votes, _ = majority_vote(self.store.matrix(missing, columns, self.data.classes))
            probs = cross_val_probs(self.learner, self._with_labels(missing, votes), random_state=self.settings["random_state"])
            self.cv_probs.update(zip(missing, probs))
        return np.array([self.pick_probs[i] if i in self.pick_probs else self.cv_probs[i] for i in ids])

    def _with_labels(self, ids, class_indices) -> pd.DataFrame:
        train = self.data.frame.loc[list(ids)].copy()
        train[self.label] = [self.data.classes[k] for k in class_indices]
        return train

    def _training_set(self) -> pd.DataFrame:
        """The labelled examples with their consensus labels (also kept in ``self.consensus``)."""
        labelled = list(self._labelled_by())
        columns = self._matrix_columns()
        matrix = self.store.matrix(labelled, columns, self.data.classes)
        several = (~np.isnan(matrix)).sum(axis=1).max(initial=0) >= 2
        self.consensus = consensus_labels(matrix, self._out_of_sample(labelled) if several else None, columns)
        self.consensus_ids = labelled
        return self._with_labels(labelled, self.consensus.labels)

    def _fit(self, train):
        t = time.perf_counter()
        self.learner.fit(train)
        self.fitted = True
        return time.perf_counter() - t

    def _train_and_evaluate(self, r, before, picked, timings) -> dict:
        after = self._labelled_by()
        t = time.perf_counter()
        train = self._training_set()  # consensus; cross-validation the first time an example has 2 labels
        consensus_seconds = time.perf_counter() - t
        fit_seconds = self._fit(train)
        t = time.perf_counter()
        test = self.data.test
        accuracy = float("nan")
        if len(test):
            probs = self.learner.predict_proba(test.drop(columns=[self.label]))
            truth = np.array([self.class_index[c] for c in test[self.label]])
            accuracy = float((probs.argmax(axis=1) == truth).mean())
        eval_seconds = time.perf_counter() - t
        new = [i for i in picked if i not in before]
        n_multi = sum(len(v) >= 2 for v in after.values())
        row = {"round": r, "picked_ids": list(picked), "n_labeled": len(after), "n_annotations": len(self.store),
               "n_new_labels": len(new), "n_relabels": len(picked) - len(new), "n_multi_labeled": n_multi,
               "n_pool": len(self.data.frame) - len(after), "accuracy": accuracy,
               "consensus_seconds": consensus_seconds, "fit_seconds": fit_seconds,
               "eval_seconds": eval_seconds, "consensus_method": self.consensus.method, **timings,
               **self._stability(r), **getattr(self.learner, "last_fit_info_", {})}
        if self.truth is not None:
            given = np.array([self.data.classes[k] for k in self.consensus.labels], dtype=object)
            row["consensus_accuracy"] = float((given == self.truth.loc[self.consensus_ids].to_numpy()).mean())
        return row

    # ----- tables and persistence -------------------------------------------------------------------
    def _consensus_table(self) -> pd.DataFrame:
        if self.consensus is None:
            return pd.DataFrame(columns=["label", "quality", "n_annotations"])
        counts = self.store.annotations()["example_id"].value_counts()
        return pd.DataFrame({"label": [self.data.classes[k] for k in self.consensus.labels],
                             "quality": self.consensus.quality,
                             "n_annotations": [int(counts.get(i, 0)) for i in self.consensus_ids]},
                            index=pd.Index(self.consensus_ids, name="example_id"))

    def _annotator_table(self) -> pd.DataFrame:
        labels = self.store.annotations()
        table = pd.DataFrame(index=pd.Index(self._matrix_columns(), name="annotator"))
        table["n_labels"] = labels["annotator"].value_counts().reindex(table.index).fillna(0).astype(int)
        quality = self.consensus.annotator_quality if self.consensus is not None else pd.Series(dtype=float)
        table["estimated_quality"] = quality.reindex(table.index)
        if self.truth is not None:
            correct = labels.assign(ok=[self.truth.get(e) == lab for e, lab in zip(labels["example_id"], labels["label"])])
            table["true_accuracy"] = correct.groupby("annotator")["ok"].mean().reindex(table.index)
        return table

    def _stop_set(self) -> list:
        if self.stop_rule is None:
            return []
        given = set(self.data.initial_ids)
        candidates = [i for i in self.data.frame.index if i not in given]
        return self.stop_rule.stop_set(candidates, self.settings["random_state"])

    def _stability(self, r) -> dict:
        """Cohen's kappa between this round's and the previous round's predictions on the stop set."""
        if self.stop_rule is None:
            return {}
        t = time.perf_counter()
        preds = self.learner.predict_proba(self.inputs.loc[self.stop_ids]).argmax(axis=1)
        previous = self.stop_preds.get(r - 1)
        self.stop_preds[r] = preds
        self._save_pickle("stop_predictions.pkl", self.stop_preds)
        kappa = cohen_kappa(previous, preds) if previous is not None else float("nan")
        return {"stop_kappa": kappa, "stop_seconds": time.perf_counter() - t}

    def _load_pick_probs(self) -> dict:
        return self._load_pickle("pick_probs.pkl")

    def _load_pickle(self, name) -> dict:
        path = self.out / name
        if path.exists():
            with open(path, "rb") as f:
                return pickle.load(f)
        return {}

    def _save_pickle(self, name, value) -> None:
        tmp = self.out / f"{name}.tmp"
        with open(tmp, "wb") as f:
            pickle.dump(value, f)
        tmp.replace(self.out / name)

    def _save_pick_probs(self):
        self._save_pickle("pick_probs.pkl", self.pick_probs)

