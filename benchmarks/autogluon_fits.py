"""The AutoGluon learner's curve: a fresh fit every round against continuing from the last round's weights.

    python benchmarks/autogluon_fits.py --configs fresh,continued --seeds 1 --out benchmarks/results/autogluon_fits

sklearn's digits (PNG files built offline) or a seeded Fashion-MNIST sample; ``initial_per_class`` labels per
class, then ``batch_size`` labels a round picked by margin (top-k, so every configuration sees the same kind of
batch), a seeded stratified 25% holdout. Each configuration and seed is one ``autoal.run``; its history rows go
to ``OUT/results.csv`` as soon as the run ends (a run already there is skipped on a re-run).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Learner options per configuration. "continued" is the learner as it was until 2026-12-02; the "fresh" ones
#: were measured with one fit a round (the default until 2026-12-03, two since: "fresh-pair").
CONFIGS = {
    "fresh": {"fits_per_round": 1},
    "fresh-pair": {"fits_per_round": 2},
    "fresh-lr1e-3": {"lr": 1e-3, "fits_per_round": 1},
    "fresh-layerwise": {"lr_choice": "layerwise_decay", "fits_per_round": 1},
    "fresh-norm_fit": {"peft": "norm_fit", "lr": 4e-3, "fits_per_round": 1},
    "continued": {"continue_training": True, "lr": 2e-3, "lr_choice": "single", "top_k": 1, "tuning_rows": None,
                  "hyperparameters": {"model.timm_image.train_transforms": ["resize_shorter_side", "center_crop",
                                                                            "trivial_augment"],
                                      "env.deterministic": False}},
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--configs", default="fresh,continued", help=f"comma-separated, of {', '.join(CONFIGS)}")
    p.add_argument("--dataset", default="digits", choices=["digits", "fashion-mnist"])
    p.add_argument("--pool-size", type=int, default=2500, help="fashion-mnist: images sampled from the training split")
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--init-per-class", type=int, default=5)
    return p.parse_args(argv)


def load(dataset, pool_size, seed):
    import autoal
    from autoal.data.datasets import build_dataset

    if dataset == "fashion-mnist":
        return autoal.load_manifest(build_dataset(dataset), split="train").sample(n=pool_size, random_state=seed)
    return autoal.load_manifest(build_dataset(dataset))


def main(argv=None):
    import autoal

    args = parse_args(argv)
    unknown = [c for c in args.configs.split(",") if c not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown configs {unknown}; choose from {', '.join(CONFIGS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.csv"
    done = pd.read_csv(results) if results.exists() else pd.DataFrame(columns=["config", "seed"])
    for seed in range(args.seeds):
        for config in args.configs.split(","):
            if ((done["config"] == config) & (done["seed"] == seed)).any():
                continue
            started = time.perf_counter()
            result = autoal.run(load(args.dataset, args.pool_size, seed), learner="autogluon",
                                learner_options=CONFIGS[config], strategy="margin", batch_size=args.batch_size,
                                n_rounds=args.rounds, initial_per_class=args.init_per_class, holdout_fraction=0.25,
                                random_state=seed, output_dir=args.out / "runs" / f"{config}-{seed}", verbose=False)
            rows = result.history[["round", "n_labeled", "accuracy", "fit_seconds"]].assign(
                config=config, seed=seed, dataset=args.dataset, run_seconds=time.perf_counter() - started)
            rows.to_csv(results, mode="a", header=not results.exists(), index=False)
            print(config, seed, [round(a, 3) for a in rows["accuracy"]], flush=True)
    table = pd.read_csv(results).pivot_table(index=["config", "seed"], columns="n_labeled", values="accuracy")
    print(table.round(3).to_string())


if __name__ == "__main__":
    main()
