"""How well the embeddings learner's probabilities are calibrated, with the pool graph and without.

    python benchmarks/calibration.py --dataset fashion-mnist --pool-size 10000 --test-size 2000 \
        --out benchmarks/results/calibration_fashion10k

What reads the probabilities (margin and ActiveLab scores, CROWDLAB's consensus, the page's guess) needs them
to mean what they say. For each seed and label count, a seeded random labelled set of the pool (stratified,
at least one per class) is fitted by the embeddings learner in a run's set-up (``set_population`` with the pool,
so the graph is built over it), once with ``graph="combine"`` (the default) and once with ``graph="off"``
(the learner before the pool graph); its holdout probabilities are scored by accuracy, log loss
(scikit-learn's ``log_loss``) and the expected calibration error (15 equal-width bins of the top probability,
the gap between confidence and accuracy weighted by the bin's share).

Writes ``results.csv`` (one row per seed, label count and mode) and ``summary.md`` (means over seeds).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare_strategies import load_data  # noqa: E402  (the same pool and holdout as the strategy comparisons)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--manifest", type=Path)
    p.add_argument("--test", type=Path)
    p.add_argument("--pool-size", type=int)
    p.add_argument("--test-size", type=int)
    p.add_argument("--labels", default="10,50,250,1000", help="comma-separated label counts")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--cache-dir", type=Path, help="the embedding cache (default: the shared one)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    args.no_images = False
    return args


def expected_calibration_error(probs, truth, bins=15) -> float:
    """Mean |accuracy - confidence| over equal-width bins of the top probability, weighted by the bin's share."""
    confidence = probs.max(axis=1)
    right = probs.argmax(axis=1) == truth
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.mean() * abs(right[inside].mean() - confidence[inside].mean())
    return float(total)


def labelled_set(labels, n, seed) -> np.ndarray:
    """Row numbers of a seeded random labelled set of ``n``: one of each class first, the rest at random."""
    rng = np.random.default_rng([seed, n])
    first = [rng.choice(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    rest = rng.permutation(np.setdiff1d(np.arange(len(labels)), first))[: max(0, n - len(first))]
    return np.sort(np.concatenate([first, rest]).astype(int))


def main(argv=None):
    from sklearn.metrics import log_loss

    from autoal.learners import EmbeddingLearner

    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    pool, test = load_data(args)
    classes = sorted(pool["label"].unique())
    truth = np.array([classes.index(c) for c in test["label"]])
    labels = pool["label"].to_numpy()
    rows = []
    for seed in range(args.seeds):
        for n in (int(s) for s in args.labels.split(",")):
            chosen = labelled_set(labels, n, seed)
            for mode in ("combine", "off"):
                options = {"graph": mode} | ({"cache_dir": str(args.cache_dir)} if args.cache_dir else {})
                learner = EmbeddingLearner(**options).configure(classes=classes, output_dir=args.out / "work",
                                                                random_state=seed)
                learner.set_population(pool.drop(columns=["label"]))
                started = time.perf_counter()
                probs = learner.fit(pool.iloc[chosen]).predict_proba(test.drop(columns=["label"]))
                rows.append({"seed": seed, "labels": n, "graph": mode,
                             "accuracy": float((probs.argmax(axis=1) == truth).mean()),
                             "log_loss": float(log_loss(truth, np.clip(probs, 1e-15, 1), labels=range(len(classes)))),
                             "ece": expected_calibration_error(probs, truth),
                             "graph_weight": learner.last_fit_info_.get("graph_weight", float("nan")),
                             "graph_power": learner.last_fit_info_.get("graph_power", float("nan")),
                             "seconds": round(time.perf_counter() - started, 2)})
                print(rows[-1], flush=True)
            pd.DataFrame(rows).to_csv(args.out / "results.csv", index=False)
    frame = pd.DataFrame(rows)
    summary = frame.groupby(["labels", "graph"])[["accuracy", "log_loss", "ece", "graph_weight", "graph_power"]].mean().round(3)
    (args.out / "summary.md").write_text(f"# Calibration ({time.strftime('%Y-%m-%d')}; `{' '.join(sys.argv)}`)\n\n"
                                         + summary.reset_index().to_markdown(index=False) + "\n")
    print(summary)


if __name__ == "__main__":
    main()
