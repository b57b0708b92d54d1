"""The active-learning loop: ``autoal.run(df)``."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .annotators import OracleAnnotator, as_annotators
from .data import PreparedData, prepare_data
from .errors import AnnotationError, InputError, first_few
from .labels import LabelLog
from .learners import Learner, make_learner
from .reporting import RunReporter
from .selection import select_lowest
from .strategies import call_strategy, get_strategy

__all__ = ["run", "RunResult"]


@dataclass
class RunResult:
    """What :func:`run` returns.

    Attributes
    ----------
    history : DataFrame
        One row per round (round 0 = the model on the initial labels): ``round``, ``n_labeled``,
        ``n_annotations``, ``n_pool``, ``accuracy``, per-stage seconds, ``picked_ids`` and more.
    labels : DataFrame
        Every annotation gathered: ``example_id, annotator, label, round, timestamp``.
    learner : Learner
        The learner after the last round.
    classes : list
        The run's class list (column order of every ``predict_proba``).
    test_ids : list
        Ids of the holdout rows accuracy is measured on.
    output_dir : Path
        Where ``history.csv``, ``summary.json``, ``labels.csv``, ``learning_curve.png`` and models are.
    summary : dict
        Settings, versions, dataset sizes, final accuracy and why the run stopped.
    """

    history: pd.DataFrame
    labels: pd.DataFrame
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
    strategy="activelab",
    batch_size=150,
    n_rounds=10,
    initial_per_class=8,
    learner="autogluon",
    learner_options=None,
    annotators=None,
    output_dir=None,
    random_state=0,
    target_accuracy=None,
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
        Fully labelled: simulation mode (all but ``initial_per_class`` labels per class are hidden and
        revealed when picked). With NaN labels: real mode (the NaN rows are the pool and
        ``annotators`` label them).
    test_df : DataFrame, optional
        Labelled holdout. Default: a seeded stratified ``holdout_fraction`` of the labelled rows.
    label, image_col : str
        Column names.
    id_col : str, optional
        Column of stable example ids; default the DataFrame index.
    strategy : str or callable
        ``"activelab"``, ``"random"``, ``"least_confidence"``, ``"margin"``, ``"entropy"`` or a callable
        (see :mod:`autoal.strategies`); lower scores are asked first.
    batch_size : int
        Examples picked per round (fewer when the pool runs out).
    n_rounds : int
        Query rounds after round 0.
    initial_per_class : int
        Labels per class revealed before round 1 (simulation mode).
    learner : str or Learner
        ``"autogluon"`` (default), ``"fast"`` or a :class:`autoal.learners.Learner` instance.
    learner_options : dict, optional
        Keyword arguments for a named learner, e.g. ``{"time_limit": 60, "checkpoint": "my/ckpt"}``.
    annotators : Annotator, callable or list, optional
        Who labels picked examples. Required in real mode; in simulation mode the hidden labels are used.
        With several, the picked examples are shared out in turn; an example skipped by everyone stays in the pool.
    output_dir : path-like, optional
        Folder for the run's files; default a new temporary folder (nothing is written to the current directory).
    random_state : int
        Seeds the holdout split, the initial set, random scores and tie-breaking.
    target_accuracy : float, optional
        Stop once holdout accuracy reaches it.
    holdout_fraction : float
        Share of each class's labelled rows held out when ``test_df`` is not given.
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
    settings = {k: v for k, v in locals().items() if k not in ("df", "test_df", "annotators", "learner")}
    settings["learner"] = learner if isinstance(learner, str) else type(learner).__name__
    settings["strategy"] = strategy if isinstance(strategy, str) else getattr(strategy, "__name__", repr(strategy))
    _check_arguments(batch_size, n_rounds, initial_per_class, target_accuracy, holdout_fraction)
    seeds = np.random.SeedSequence(random_state).spawn(3)
    score_fn = get_strategy(strategy, random_state=np.random.default_rng(seeds[0]))
    model = make_learner(learner, **(learner_options or {}))
    annotator_list = as_annotators(annotators)
    data = prepare_data(
        df, test_df=test_df, label=label, image_col=image_col, id_col=id_col, initial_per_class=initial_per_class,
        holdout_fraction=holdout_fraction, classes=classes, drop_bad_images=drop_bad_images,
        rng=np.random.default_rng(seeds[1]),
    )
    if not data.simulation and not annotator_list:
        n_missing = int(data.frame[label].isna().sum())
        raise InputError(
            f"df has {n_missing} rows without a label and no annotator was given: pass annotators=... "
            "(an Annotator or a function examples -> labels) to label them, or pass a fully labelled df "
            "to simulate labelling"
        )
    if data.simulation and not annotator_list:
        annotator_list = [OracleAnnotator(data.frame[label])]
    out = _make_output_dir(output_dir)
    model.configure(classes=data.classes, label=label, image_col=image_col, output_dir=out, random_state=random_state)
    loop = _Loop(data, model, score_fn, annotator_list, label, batch_size, np.random.default_rng(seeds[2]), out, verbose)
    reporter = RunReporter(out, settings, data, verbose=verbose)
    stop_reason = loop.run(n_rounds, target_accuracy, reporter)
    history = reporter.finish(loop.labels.to_frame(), stop_reason)
    return RunResult(history, loop.labels.to_frame(), model, data.classes, list(data.test.index), out, reporter.summary)


def _check_arguments(batch_size, n_rounds, initial_per_class, target_accuracy, holdout_fraction):
    for name, value in (("batch_size", batch_size), ("n_rounds", n_rounds), ("initial_per_class", initial_per_class)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise InputError(f"{name} must be a positive integer, got {value!r}")
    if target_accuracy is not None and not 0 < target_accuracy <= 1:
        raise InputError(f"target_accuracy must be in (0, 1], got {target_accuracy!r}")
    if not 0 < holdout_fraction < 1:
        raise InputError(f"holdout_fraction must be between 0 and 1, got {holdout_fraction!r}")


def _make_output_dir(output_dir) -> Path:
    if output_dir is None:
        return Path(tempfile.mkdtemp(prefix="autoal-run-"))
    out = Path(output_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise InputError(f"output_dir {str(out)!r} is a file; pass a folder")
    if (out / "summary.json").exists() or (out / "labels.csv").exists():
        raise InputError(f"output_dir {str(out)!r} already holds a run; choose a new folder or delete that one")
    out.mkdir(parents=True, exist_ok=True)
    return out


class _Loop:
    """State of one run: who is labelled, who is in the pool, and the rounds."""

    def __init__(self, data: PreparedData, learner, score_fn, annotators, label, batch_size, rng, out, verbose):
        self.data, self.learner, self.score_fn, self.annotators = data, learner, score_fn, annotators
        self.label, self.batch_size, self.rng, self.verbose = label, batch_size, rng, verbose
        self.class_index = {c: i for i, c in enumerate(data.classes)}
        self.labels = LabelLog(out / "labels.csv")
        self.known: dict = {}  # example id -> label
        initial = set(data.initial_ids)
        self.pool = [i for i in data.frame.index if i not in initial]
        self._next_annotator = 0
        given_by = "oracle" if data.simulation else "given"
        for i in data.initial_ids:
            self.known[i] = data.frame.at[i, label]
            self.labels.add(i, self.known[i], annotator=given_by, round=0)

    def run(self, n_rounds, target_accuracy, reporter) -> str:
        row = self._train_and_evaluate({"round": 0, "picked_ids": list(self.data.initial_ids)})
        reporter.add_round(row)
        for r in range(1, n_rounds + 1):
            if target_accuracy is not None and row["accuracy"] >= target_accuracy:
                return f"target accuracy {target_accuracy} reached"
            if not self.pool:
                return "pool exhausted"
            picked, timings = self._query(r)
            row = self._train_and_evaluate({"round": r, "picked_ids": picked, **timings})
            reporter.add_round(row)
        if target_accuracy is not None and row["accuracy"] >= target_accuracy:
            return f"target accuracy {target_accuracy} reached"
        return "pool exhausted" if not self.pool else f"{n_rounds} rounds done"

    def _query(self, round_number):
        frame = self.data.frame.drop(columns=[self.label])
        labelled_ids = list(self.known)
        t = time.perf_counter()
        probs = self.learner.predict_proba(frame.loc[labelled_ids + self.pool])
        predict_seconds = time.perf_counter() - t
        t = time.perf_counter()
        labels_matrix = np.array([[self.class_index[self.known[i]]] for i in labelled_ids], dtype=float)
        _, pool_scores = call_strategy(self.score_fn, labels_matrix, probs[: len(labelled_ids)], probs[len(labelled_ids):])
        score_seconds = time.perf_counter() - t
        t = time.perf_counter()
        if self.batch_size > len(self.pool) and self.verbose:
            print(f"  batch_size {self.batch_size} > {len(self.pool)} examples left in the pool: taking all of them")
        picked = select_lowest(self.pool, pool_scores, self.batch_size, random_state=self.rng)
        select_seconds = time.perf_counter() - t
        t = time.perf_counter()
        labelled = self._annotate(picked, frame, round_number)
        annotate_seconds = time.perf_counter() - t
        timings = {"predict_seconds": predict_seconds, "score_seconds": score_seconds,
                   "select_seconds": select_seconds, "annotate_seconds": annotate_seconds}
        return labelled, timings

    def _annotate(self, picked, frame, round_number) -> list:
        """Share ``picked`` out among the annotators in turn; store every valid answer at once.

        An example skipped by one annotator goes to the next; one skipped by all stays in the pool.
        """
        n = len(self.annotators)
        first = {example_id: (self._next_annotator + k) % n for k, example_id in enumerate(picked)}
        remaining, labelled = list(picked), []
        for attempt in range(n):
            skipped = []
            for a in range(n):
                ids = [i for i in remaining if (first[i] + attempt) % n == a]
                if ids:
                    skipped += self._ask_and_store(self.annotators[a], ids, frame, round_number, labelled)
            remaining = skipped
            if not remaining:
                break
        self._next_annotator = (self._next_annotator + len(picked)) % n
        return labelled

    def _ask_and_store(self, annotator, ids, frame, round_number, labelled) -> list:
        """Ask one annotator about ``ids``; store valid labels, return skipped ids, raise on bad answers."""
        answers = list(annotator.annotate(frame.loc[ids]))
        if len(answers) != len(ids):
            raise AnnotationError(
                f"annotator {annotator.name!r} returned {len(answers)} labels for {len(ids)} examples; return one "
                "label (or None to skip) per example"
            )
        skipped, bad = [], []
        for example_id, answer in zip(ids, answers):
            value = self._to_class(answer)
            if value is None:
                skipped.append(example_id)
            elif value is _UNKNOWN:
                bad.append((example_id, answer))
            else:
                self.known[example_id] = value
                self.labels.add(example_id, value, annotator=annotator.name, round=round_number)
                self.pool.remove(example_id)
                labelled.append(example_id)
        if bad:
            raise AnnotationError(
                f"annotator {annotator.name!r} gave labels that are not classes of this run: {first_few(bad)}; "
                f"valid classes: {first_few(self.data.classes, 20)}. Every valid answer is saved in labels.csv"
            )
        return skipped

    def _to_class(self, answer):
        if answer is None or (isinstance(answer, float) and np.isnan(answer)):
            return None
        if answer in self.class_index:
            return answer
        matches = [c for c in self.data.classes if str(c) == str(answer).strip()]
        return matches[0] if len(matches) == 1 else _UNKNOWN

    def _train_and_evaluate(self, row) -> dict:
        frame = self.data.frame
        train = frame.loc[list(self.known)].copy()
        train[self.label] = [self.known[i] for i in train.index]
        t = time.perf_counter()
        self.learner.fit(train)
        fit_seconds = time.perf_counter() - t
        t = time.perf_counter()
        test = self.data.test
        probs = self.learner.predict_proba(test.drop(columns=[self.label]))
        truth = np.array([self.class_index[c] for c in test[self.label]])
        accuracy = float((probs.argmax(axis=1) == truth).mean())
        eval_seconds = time.perf_counter() - t
        row.update(
            n_labeled=len(self.known), n_annotations=len(self.labels), n_pool=len(self.pool), accuracy=accuracy,
            fit_seconds=fit_seconds, eval_seconds=eval_seconds, **getattr(self.learner, "last_fit_info_", {}),
        )
        return row


_UNKNOWN = object()
