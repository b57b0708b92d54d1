"""Per-round time split of autoal's AutoGluon rounds, and the wrapper's overhead over a plain loop.

Runs ``autoal.run`` with the AutoGluon learner on sklearn's digits (the demo's settings), then a plain
hand-written loop that does the same work on the same data: each round it fits ``MultiModalPredictor``
(continuing from the previous round, as autoal does) on exactly the labelled set autoal had, calls
``predict_proba`` on the labelled set and the pool, calls cleanlab's ``get_active_learning_scores``,
takes the lowest scores and measures holdout accuracy. The overhead is autoal's total round time
divided by the plain loop's; AutoGluon's one-time import is done before either is timed and reported apart.

    python benchmarks/round_timing.py --out benchmarks/results/round_timing

Writes ``rounds.csv`` (one row per implementation, repeat and round) and ``summary.json``.
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
from autoal.data.datasets import build_digits
from autoal.results.reporting import command_line, package_versions

SPLIT = ["fit_seconds", "predict_seconds", "score_seconds", "select_seconds", "eval_seconds"]


def run_autoal(df, args, out):
    result = autoal.run(
        df, learner="autogluon", learner_options={"max_epochs": args.max_epochs, "checkpoint": args.checkpoint}, strategy="activelab",
        batch_size=args.batch_size, n_rounds=args.rounds, initial_per_class=args.init_per_class,
        holdout_fraction=0.25, output_dir=out, random_state=args.seed, verbose=False,
    )
    h = result.history.copy()
    h["picked"] = [json.loads(p) for p in h["picked_ids"]]
    return h, result


def run_plain(df, test, autoal_history, args, out):
    """The same rounds written by hand: AutoGluon fit + predict_proba + cleanlab, nothing else."""
    from cleanlab.multiannotator import get_active_learning_scores

    from autoal.common.torch_compat import import_multimodal_predictor
    from autoal.learners import AutoGluonLearner
    from autoal.learners.autogluon_offline import quiet_offline
    from autoal.learners.autogluon_settings import offline_hyperparameters

    with quiet_offline(True):
        MultiModalPredictor = import_multimodal_predictor()
    backbone = AutoGluonLearner(checkpoint=args.checkpoint).configure(classes=[0, 1], random_state=args.seed) \
        .resolve_checkpoint()  # the backbone autoal's side trains
    hp = offline_hyperparameters(backbone, max_epochs=args.max_epochs)
    classes = sorted(df["label"].unique())
    labelled, predictor, rows = [], None, []
    for r, picked in enumerate(autoal_history["picked"]):
        row = {"round": r}
        if r > 0:  # score the pool with last round's model, as autoal does before asking for labels
            pool = [i for i in df.index if i not in set(labelled)]
            t = time.perf_counter()
            with quiet_offline(True):
                probs = predictor.predict_proba(df.loc[labelled + pool].drop(columns=["label"]), as_pandas=False)
            row["predict_seconds"] = time.perf_counter() - t
            t = time.perf_counter()
            given = np.array([[classes.index(c)] for c in df.loc[labelled, "label"]], dtype=float)
            _, pool_scores = get_active_learning_scores(given, probs[: len(labelled)], probs[len(labelled):])
            row["score_seconds"] = time.perf_counter() - t
            t = time.perf_counter()
            np.argsort(pool_scores)[: args.batch_size]
            row["select_seconds"] = time.perf_counter() - t
        labelled = labelled + list(picked)  # train on exactly what autoal trained on
        t = time.perf_counter()
        with quiet_offline(True):
            if predictor is None:
                predictor = MultiModalPredictor(label="label", problem_type="multiclass", path=str(out / f"r{r}"),
                                                verbosity=0, enable_progress_bar=False)
                predictor.fit(df.loc[labelled], hyperparameters=hp, column_types={"image_path": "image_path"}, seed=args.seed)
            else:
                predictor.fit(df.loc[labelled], hyperparameters=hp, save_path=str(out / f"r{r}"))
        row["fit_seconds"] = time.perf_counter() - t
        t = time.perf_counter()
        with quiet_offline(True):
            test_probs = predictor.predict_proba(test.drop(columns=["label"]), as_pandas=False)
        row["accuracy"] = float((np.array(classes)[test_probs.argmax(1)] == test["label"].to_numpy()).mean())
        row["eval_seconds"] = time.perf_counter() - t
        row["n_labeled"] = len(labelled)
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/round_timing"))
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--init-per-class", type=int, default=8)
    parser.add_argument("--max-epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2, help="each repeat runs both, alternating which goes first")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", help="backbone for both sides: a checkpoint folder, or random-init "
                        "(default: autoal's, the pretrained MobileNetV2 when installed)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    df = autoal.load_manifest(build_digits())
    # AutoGluon's first import (once per process) is not a per-round cost: pay it before timing either loop
    from autoal.common.torch_compat import import_multimodal_predictor
    from autoal.learners.autogluon_offline import quiet_offline

    t = time.perf_counter()
    with quiet_offline(True):
        import_multimodal_predictor()
    args.import_seconds = round(time.perf_counter() - t, 2)
    work = Path(tempfile.mkdtemp(prefix="autoal-bench-"))
    frames, history, result = [], None, None
    try:
        for repeat in range(args.repeats):
            # alternate the order so that neither implementation always runs on a cold machine;
            # the plain loop replays the picks of autoal's latest run
            for name in (["autoal", "plain"] if repeat % 2 == 0 else ["plain", "autoal"]):
                t = time.perf_counter()
                if name == "autoal":
                    history, result = run_autoal(df, args, work / f"autoal{repeat}")
                    frame = history.drop(columns=["picked"])
                else:
                    test = df.loc[result.test_ids]
                    frame = run_plain(df.drop(index=test.index), test, history, args, work / f"plain{repeat}")
                frame["implementation"], frame["repeat"] = name, repeat
                frame["run_wall_seconds"] = time.perf_counter() - t
                frame["round_seconds"] = frame[[c for c in SPLIT if c in frame]].fillna(0).sum(axis=1)
                frames.append(frame)
                print(f"repeat {repeat} {name:6s}: {frame['round_seconds'].sum():7.1f}s over {len(frame)} rounds "
                      f"(wall {time.perf_counter() - t:.1f}s), final accuracy {frame['accuracy'].iloc[-1]:.3f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rounds = pd.concat(frames, ignore_index=True)
    keep = ["implementation", "repeat", "round", "n_labeled", "accuracy"] + SPLIT + ["round_seconds"]
    rounds[keep].to_csv(args.out / "rounds.csv", index=False)
    summary = summarize(rounds, args)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary["per_round_mean_seconds"], indent=2))
    print(f"overhead (autoal / plain): {summary['overhead_ratio_wall']:.3f} by wall time, "
          f"{summary['overhead_ratio']:.3f} by timed stages")


def summarize(rounds, args):
    totals = rounds.groupby(["implementation", "repeat"])["round_seconds"].sum().unstack(0)
    wall = rounds.groupby(["implementation", "repeat"])["run_wall_seconds"].first().unstack(0)
    per_round = rounds.groupby("implementation")[SPLIT + ["round_seconds"]].mean().round(3)
    return {
        "date": time.strftime("%Y-%m-%d"),
        "command": command_line("benchmarks/round_timing.py", args, leave_out=("import_seconds",)),
        "autogluon_import_seconds_once_per_process": args.import_seconds,
        "versions": package_versions(),
        "totals_seconds": totals.round(1).to_dict(),
        "overhead_ratio": float(totals["autoal"].sum() / totals["plain"].sum()),
        "overhead_ratio_wall": float(wall["autoal"].sum() / wall["plain"].sum()),
        "wall_seconds": wall.round(1).to_dict(),
        "overhead_ratio_per_repeat": (totals["autoal"] / totals["plain"]).round(3).tolist(),
        "per_round_mean_seconds": per_round.to_dict(orient="index"),
    }


if __name__ == "__main__":
    main()
