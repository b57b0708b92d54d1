"""Multi-annotator benchmark: holdout accuracy against the number of annotations.

Simulated annotators of mixed accuracy label sklearn's digits (or a manifest); each configuration
runs over several seeds with the chosen learner (AutoGluon MultiModal by default):

- ``activelab``: ActiveLab with relabeling (a batch mixes new labels and extra labels),
- ``activelab_no_relabel``: ActiveLab, new labels only,
- ``random``: random new examples.

    python benchmarks/multiannotator.py --seeds 3 --out benchmarks/results/multiannotator

Writes, as results come in: ``results.csv`` (config, seed, round), ``annotators.csv`` (estimated
vs true annotator quality); at the end ``summary.csv``, ``summary.json`` and
``accuracy_vs_annotations.png``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import autoal
from autoal.curves import area_under_curve, budget_to_reach
from autoal.datasets import build_digits
from autoal.reporting import package_versions

CONFIGS = {
    "activelab": {"strategy": "activelab", "relabel": True},
    "activelab_no_relabel": {"strategy": "activelab", "relabel": False},
    "random": {"strategy": "random", "relabel": False},
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", type=Path, help="fully labelled manifest (default: sklearn digits)")
    p.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated, from {list(CONFIGS)}")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--learner", default="autogluon", choices=sorted(autoal.LEARNERS))
    p.add_argument("--max-epochs", type=int, default=20, help="AutoGluon epochs per fit")
    p.add_argument("--annotators", type=int, default=5)
    p.add_argument("--accuracy", default="0.65,0.95", help="LOW,HIGH accuracy range of the simulated annotators")
    p.add_argument("--init-per-class", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/multiannotator"))
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    df = autoal.load_manifest(args.manifest or build_digits())
    low, high = (float(x) for x in args.accuracy.split(","))
    configs = [c.strip() for c in args.configs.split(",")]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown configs {unknown}; choose from {list(CONFIGS)}")
    options = {"max_epochs": args.max_epochs} if args.learner == "autogluon" else {}
    results, annotators = [], []
    work = Path(tempfile.mkdtemp(prefix="autoal-multi-"))
    try:
        for seed in range(args.seeds):
            for name in configs:
                t = time.perf_counter()
                pool = autoal.simulated_annotators(args.annotators, (low, high), random_state=seed)
                result = autoal.run(df, annotators=pool, learner=args.learner, learner_options=options,
                                    batch_size=args.batch_size, n_rounds=args.rounds,
                                    initial_per_class=args.init_per_class, random_state=seed,
                                    output_dir=work / f"{name}-{seed}", verbose=False, **CONFIGS[name])
                h = result.history.assign(config=name, seed=seed)
                results.append(h[["config", "seed", "round", "n_annotations", "n_labeled", "n_new_labels", "n_relabels",
                                  "n_multi_labeled", "accuracy", "consensus_accuracy", "round_seconds"]])
                annotators.append(result.annotator_quality.reset_index().assign(config=name, seed=seed))
                pd.concat(results).to_csv(args.out / "results.csv", index=False)
                pd.concat(annotators).to_csv(args.out / "annotators.csv", index=False)
                print(f"seed {seed} {name:22s} accuracy {h['accuracy'].round(3).tolist()} "
                      f"relabels {int(h['n_relabels'].sum())} ({time.perf_counter() - t:.0f}s)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summarize(pd.concat(results), args)


def summarize(results: pd.DataFrame, args):
    mean = results.groupby(["config", "round"]).agg(
        n_annotations=("n_annotations", "mean"), accuracy=("accuracy", "mean"), accuracy_std=("accuracy", "std"),
        consensus_accuracy=("consensus_accuracy", "mean"), n_relabels=("n_relabels", "mean")).reset_index()
    mean.to_csv(args.out / "summary.csv", index=False)
    curves = {c: g.sort_values("round") for c, g in mean.groupby("config")}
    summary = {"date": time.strftime("%Y-%m-%d"), "command": "python benchmarks/multiannotator.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None and k != "out"),
        "versions": package_versions(), "configs": {}}
    if "random" in curves:
        target = float(curves["random"]["accuracy"].iloc[-1])
        random_budget = float(curves["random"]["n_annotations"].iloc[-1])
        summary["random_final_accuracy"] = target
        summary["random_annotations"] = random_budget
    for name, curve in curves.items():
        per_seed = results[results["config"] == name].groupby("seed")
        entry = {
            "final_accuracy_mean": float(curve["accuracy"].iloc[-1]),
            "final_accuracy_std": float(curve["accuracy_std"].iloc[-1]),
            "aulc_mean": float(np.mean([area_under_curve(g["n_annotations"], g["accuracy"]) for _, g in per_seed])),
            "final_consensus_accuracy": float(curve["consensus_accuracy"].iloc[-1]),
            "relabels_total_mean": float(results[results["config"] == name].groupby("seed")["n_relabels"].sum().mean()),
        }
        if "random" in curves:
            needed = budget_to_reach(curve["n_annotations"], curve["accuracy"], target)
            entry["annotations_to_random_final"] = needed
            entry["fraction_of_random_annotations"] = needed / random_budget
        summary["configs"][name] = entry
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    plot(curves, args.out / "accuracy_vs_annotations.png")
    print(json.dumps(summary["configs"], indent=2))


def plot(curves, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, c in curves.items():
        ax.plot(c["n_annotations"], c["accuracy"], marker="o", label=name)
        ax.fill_between(c["n_annotations"], c["accuracy"] - c["accuracy_std"].fillna(0),
                        c["accuracy"] + c["accuracy_std"].fillna(0), alpha=0.15)
    ax.set_xlabel("annotations")
    ax.set_ylabel("holdout accuracy (mean +- std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
