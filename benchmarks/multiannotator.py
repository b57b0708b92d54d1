"""Multi-annotator benchmark: holdout accuracy against the number of annotations.

Simulated annotators of mixed accuracy label sklearn's digits (or a manifest); each configuration
runs over several seeds with the chosen learner (AutoGluon MultiModal by default):

- ``activelab``: ActiveLab with relabeling (a batch mixes new labels and extra labels),
- ``activelab_no_relabel``: ActiveLab, new labels only,
- ``random``: random new examples.

    python benchmarks/multiannotator.py --seeds 3 --out benchmarks/results/multiannotator

Writes, as results come in: ``results.csv`` (config, seed, round), ``annotators.csv`` (estimated
vs true annotator quality); at the end ``summary.csv`` (per config and round), ``configs.csv``
(AULC, annotations to reach random's final accuracy, paired differences, relabels, consensus
accuracy), ``summary.json`` and ``accuracy_vs_annotations.png``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

import autoal
from autoal.curves import plot_curves, summarize_runs
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
    p.add_argument("--checkpoint", help="AutoGluon backbone: a checkpoint folder or random-init (default: the "
                   "pretrained MobileNetV2 when installed)")
    p.add_argument("--annotators", type=int, default=5)
    p.add_argument("--accuracy", default="0.65,0.95", help="LOW,HIGH accuracy range of the simulated annotators")
    p.add_argument("--init-per-class", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/multiannotator"))
    p.add_argument("--summarize-only", action="store_true", help="only rebuild the summary from OUT/results.csv")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.summarize_only:
        return summarize(pd.read_csv(args.out / "results.csv"), args)
    df = autoal.load_manifest(args.manifest or build_digits())
    low, high = (float(x) for x in args.accuracy.split(","))
    configs = [c.strip() for c in args.configs.split(",")]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown configs {unknown}; choose from {list(CONFIGS)}")
    options = {"max_epochs": args.max_epochs, "checkpoint": args.checkpoint} if args.learner == "autogluon" else {}
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
    compare_to = [c for c in ("random", "activelab_no_relabel") if c in set(results["config"])]
    per_round, per_config = summarize_runs(results, budget="n_annotations", group="config", compare_to=compare_to)
    extra = results.groupby(["config", "seed"]).agg(relabels=("n_relabels", "sum")).groupby("config")["relabels"].mean()
    last = results[results["round"] == results.groupby("config")["round"].transform("max")]
    per_config["relabels_per_run"] = per_config["config"].map(extra)
    per_config["final_consensus_accuracy"] = per_config["config"].map(last.groupby("config")["consensus_accuracy"].mean())
    per_round.to_csv(args.out / "summary.csv", index=False)
    per_config.to_csv(args.out / "configs.csv", index=False)
    plot_curves(per_round, args.out / "accuracy_vs_annotations.png", group="config", xlabel="annotations")
    summary = {"date": time.strftime("%Y-%m-%d"), "command": "python benchmarks/multiannotator.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v not in (None, False) and k != "out"),
        "versions": package_versions(), "configs": json.loads(per_config.to_json(orient="records"))}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(per_config.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
