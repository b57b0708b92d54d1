"""Relabel-only benchmark: a dataset labelled once, with wrong labels, checked by a pool of annotators.

    python benchmarks/relabel_only.py --dataset digits --seeds 5 --out benchmarks/results/relabel_only

Every example of the pool arrives with one label (``--noise`` of them wrong: a uniformly drawn other
class, seeded), stored as annotator ``given``; nothing is unlabelled, so every extra annotation is a
relabel. Simulated annotators of mixed accuracy (``--accuracy``, each answer drawn once per example
and annotator) give the extra labels; autoal's consensus (CROWDLAB once examples have several labels)
decides each example's label. The orders compared, each with the same annotators and budget:

- ``activelab``: autoal's default: ActiveLab scores with the default relabel guards (ties get a third label first);
- ``random``: labelled examples in a seeded random order;
- ``cleanlab``: cleanlab's label-quality order: ``cleanlab.rank.get_label_quality_scores`` of each
  example's current majority label under the out-of-sample probabilities (the ranking
  ``find_label_issues(..., return_indices_ranked_by="self_confidence")`` uses), lowest first.

Per round: wrong consensus labels left (against the hidden truth) and annotations spent. Writes
``rounds.csv``, ``summary.csv`` (wrong labels fixed per 100 extra annotations, per order) and
``summary.json``; ``wrong_labels.png`` plots wrong labels left against annotations.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import autoal
from autoal.annotation.annotators import Annotator
from autoal.data.datasets import DATASETS, build_dataset
from autoal.results.reporting import command_line, package_versions
from autoal.rounds.outcomes import Stopped, Trained, Waiting

sys.path.insert(0, str(Path(__file__).parent))
from compare_strategies import subsample  # noqa: E402

ORDERS = ("activelab", "random", "cleanlab")


class KnowsTruth(Annotator):
    """A simulated annotator for a real-mode run: right with probability ``accuracy``, else a uniformly
    drawn other class; each example's answer drawn once (seeded)."""

    def __init__(self, name, accuracy, truth: pd.Series, classes, seed):
        self.name, self.accuracy = name, accuracy
        rng = np.random.default_rng(seed)
        k = len(classes)
        index = truth.map({c: i for i, c in enumerate(classes)}).to_numpy()
        wrong = (index + rng.integers(1, k, size=len(index))) % k
        given = np.where(rng.random(len(index)) < accuracy, index, wrong)
        self.answers = pd.Series(np.asarray(classes, dtype=object)[given], index=truth.index)

    def annotate(self, examples):
        return self.answers.loc[examples.index].tolist()


def random_order(labels_multiannotator, pred_probs, pred_probs_unlabeled, *, rng=None):
    """Random relabel scores (and random pool scores)."""
    rng = rng or np.random.default_rng()
    return rng.random(len(labels_multiannotator)), rng.random(len(pred_probs_unlabeled))


def cleanlab_order(labels_multiannotator, pred_probs, pred_probs_unlabeled):
    """cleanlab's label quality of each example's current majority label (lower = more likely wrong)."""
    from cleanlab.rank import get_label_quality_scores

    from autoal.multiannotator.consensus import majority_vote

    votes, _ = majority_vote(labels_multiannotator)
    return get_label_quality_scores(votes, np.asarray(pred_probs)), np.asarray(pred_probs_unlabeled).max(axis=1)


def order_options(name) -> dict:
    plain = {"min_multi_labelled": 0, "ties_first": False}
    return {"activelab": {"strategy": "activelab", "relabel": True},
            "activelab/no-guards": {"strategy": "activelab", "relabel": plain},
            "random": {"strategy": random_order, "relabel": plain},
            "cleanlab": {"strategy": cleanlab_order, "relabel": plain}}[name]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", choices=sorted(DATASETS), default="digits")
    p.add_argument("--pool-size", type=int, help="seeded stratified subsample of the pool")
    p.add_argument("--orders", default=",".join(ORDERS))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--noise", type=float, default=0.25, help="share of the given labels that are wrong")
    p.add_argument("--annotators", type=int, default=5)
    p.add_argument("--accuracy", default="0.65,0.95")
    p.add_argument("--batch-size", type=int, default=100, help="extra annotations per round")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--learner", default="embeddings", choices=sorted(autoal.LEARNERS))
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/relabel_only"))
    return p.parse_args(argv)


def noisy_labels(truth: pd.Series, classes, share, seed) -> pd.Series:
    rng = np.random.default_rng([seed, 99])
    k = len(classes)
    index = truth.map({c: i for i, c in enumerate(classes)}).to_numpy()
    flip = rng.random(len(index)) < share
    index = np.where(flip, (index + rng.integers(1, k, size=len(index))) % k, index)
    return pd.Series(np.asarray(classes, dtype=object)[index], index=truth.index)


def run_one(order, seed, pool, test, args, work) -> list:
    from autoal.rounds.loop import start_session

    classes = sorted(pool["label"].unique())
    truth = pool["label"]
    given = pool.assign(label=noisy_labels(truth, classes, args.noise, seed))
    low, high = (float(x) for x in args.accuracy.split(","))
    annotators = [KnowsTruth(f"annotator_{k + 1}", a, truth, classes, seed * 100 + k)
                  for k, a in enumerate(np.linspace(low, high, args.annotators))]
    options = {"cache_dir": str(args.out / "embedding_cache")} if args.learner == "embeddings" else {}
    session = start_session(given, test_df=test, simulate=False, annotators=annotators, learner=args.learner,
                            learner_options=options, batch_size=args.batch_size, n_rounds=args.rounds,
                            random_state=seed, output_dir=work / f"{order}-{seed}", verbose=False,
                            **order_options(order))
    truth_index = truth.map({c: i for i, c in enumerate(classes)}).to_numpy()
    rows = []
    with session:
        while not isinstance(outcome := session.advance(), Stopped):
            if isinstance(outcome, Waiting):
                raise RuntimeError(f"every annotator here answers at once, yet {outcome.message}")
            if not isinstance(outcome, Trained):
                continue  # a batch dealt (and answered at once): the next step trains on it
            row = outcome.row
            consensus, positions = session.last_consensus
            wrong = int((consensus.labels != truth_index[positions]).sum())
            rows.append({"order": order, "seed": seed, "round": outcome.round, "n_annotations": row["n_annotations"],
                         "extra_annotations": row["n_annotations"] - len(pool), "wrong_left": wrong,
                         "accuracy": row["accuracy"], "max_labels": row["max_labels_per_example"]})
    return rows


def main(argv=None):
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = build_dataset(args.dataset)
    if "split" in pd.read_csv(manifest, nrows=1).columns:
        pool, test = autoal.load_manifest(manifest, split="train"), autoal.load_manifest(manifest, split="test")
    else:
        frame = autoal.load_manifest(manifest)
        test = subsample(frame, round(0.2 * len(frame)), seed=0)
        pool = frame.drop(index=test.index)
    pool = subsample(pool, args.pool_size)
    orders = [o.strip() for o in args.orders.split(",")]
    print(f"pool {len(pool)}, holdout {len(test)}; {args.noise:.0%} of the given labels wrong", flush=True)
    rows, work = [], Path(tempfile.mkdtemp(prefix="autoal-relabel-"))
    try:
        for seed in range(args.seeds):
            for order in orders:
                started = time.perf_counter()
                mine = run_one(order, seed, pool, test, args, work)
                rows += mine
                pd.DataFrame(rows).to_csv(args.out / "rounds.csv", index=False)
                print(f"seed {seed} {order:20s} wrong left {[r['wrong_left'] for r in mine]} "
                      f"({time.perf_counter() - started:.0f}s)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summarize(pd.DataFrame(rows), args)


def summarize(rounds: pd.DataFrame, args) -> None:
    from autoal.results.curves import plot_curves

    first = rounds[rounds["round"] == 0].set_index(["order", "seed"])["wrong_left"]
    last = rounds[rounds["round"] == rounds.groupby(["order", "seed"])["round"].transform("max")]
    last = last.set_index(["order", "seed"])
    fixed = (first - last["wrong_left"]) / last["extra_annotations"] * 100
    table = fixed.groupby("order").agg(["mean", "std", "count"]).rename(columns={
        "mean": "fixed_per_100", "std": "fixed_per_100_std", "count": "n_seeds"})
    table["wrong_at_start"] = first.groupby("order").mean()
    table["wrong_left"] = last["wrong_left"].groupby("order").mean()
    table["extra_annotations"] = last["extra_annotations"].groupby("order").mean()
    if "random" in table.index:
        table["vs_random"] = table["fixed_per_100"] / table.loc["random", "fixed_per_100"]
    table.reset_index().to_csv(args.out / "summary.csv", index=False)
    curve = rounds.groupby(["order", "round"]).agg(budget=("extra_annotations", "mean"), accuracy=("wrong_left", "mean"),
                                                   accuracy_std=("wrong_left", "std")).reset_index()
    plot_curves(curve, args.out / "wrong_labels.png", group="order", xlabel="extra annotations",
                ylabel="wrong consensus labels left")
    command = command_line("benchmarks/relabel_only.py", args)
    (args.out / "summary.json").write_text(json.dumps(
        {"date": time.strftime("%Y-%m-%d"), "command": command, "versions": package_versions(),
         "orders": json.loads(table.reset_index().to_json(orient="records"))}, indent=2))
    print(table.round(2).to_string())


if __name__ == "__main__":
    main()
