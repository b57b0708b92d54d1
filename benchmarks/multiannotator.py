"""Multi-annotator benchmark: holdout accuracy against the number of annotations, over seeds.

Simulated annotators of mixed accuracy label a built-in offline dataset (sklearn's digits by default,
or Fashion-MNIST from Debian's package, or the tables ``satellite`` and ``letter`` from Debian's
``r-cran-mlbench``) or a manifest (``--no-images``: a CSV table); each configuration runs over several seeds:

- ``random``: random new examples;
- ``activelab/no-relabel``: ActiveLab, new labels only;
- ``activelab``: ActiveLab with relabeling (the default guards of ``relabel=True``), top-k batches;
- ``auto``: ``strategy="auto"``, the default (with several annotators: ActiveLab with relabeling,
  k-means batches and a typical initial set when embeddings are available); ``auto/no-relabel`` the
  same without relabels.

A configuration may add modifiers after slashes: ``/pick`` or ``/cross-val`` (``oos=``), ``/kmeans``
(k-means batches), ``/coverage-first`` (batches that cover the pool while labels are few, then k-means batches),
``/no-warmup`` or ``/warmup-N`` (relabel scores trusted from the start, or once N
examples have two labels), ``/no-ties`` (no third label first for ties), ``/share-N`` (at most N%
of a batch on relabels), ``/folds-K``, ``/counting-cleanlab`` or ``/counting-by-class`` (how the
calibration temperature search counts labels, see ``autoal.multiannotator.crowdlab.counting_mode``).

    python benchmarks/multiannotator.py --dataset digits --learner embeddings --seeds 5 \\
        --out benchmarks/results/multiannotator_digits_embeddings

Writes, as runs finish: ``results.csv`` (config, seed, round; a rerun skips finished runs) and
``annotators.csv`` (estimated vs true annotator quality); at the end ``summary.csv`` (per config and
round), ``configs.csv`` (AULC, annotations to reach random's final accuracy, paired AULC differences
against random and against ActiveLab and auto without relabels, relabels, final consensus accuracy),
``summary.json`` and ``accuracy_vs_annotations.png``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

import autoal
from autoal.results.curves import plot_curves, summarize_runs
from autoal.data.datasets import DATASETS, TABULAR_DATASETS, build_dataset
from autoal.results.reporting import command_line, package_versions

sys.path.insert(0, str(Path(__file__).parent))
from compare_strategies import add_learner_arguments, chosen_learner, is_table, learner_options, subsample  # noqa: E402
from compare_strategies import load_data as load_table  # noqa: E402

BASES = {
    "random": {"strategy": "random", "relabel": False},
    "activelab": {"strategy": "activelab", "relabel": True},
    "auto": {"strategy": "auto", "relabel": True},
}


def parse_config(name) -> dict:
    """``base[/modifier...]`` -> run() keyword arguments; SystemExit when malformed."""
    base, *modifiers = name.split("/")
    if base not in BASES:
        sys.exit(f"unknown configuration {name!r}: {base!r} is not one of {list(BASES)}")
    options = dict(BASES[base])
    if base != "auto":
        options.update(batch="topk", initial="random")
    relabel = {}
    for part in modifiers:
        if part == "no-relabel":
            options["relabel"] = False
        elif part in ("pick", "cross-val"):
            options["oos"] = part.replace("-", "_")
        elif part in ("kmeans", "topk", "coverage-first"):
            options["batch"] = part
        elif part == "no-warmup":
            relabel["min_multi_labelled"] = 0
        elif part.startswith("warmup-"):
            relabel["min_multi_labelled"] = int(part[7:])
        elif part == "no-ties":
            relabel["ties_first"] = False
        elif part.startswith("share-"):
            relabel["max_share"] = int(part[6:]) / 100
        elif part.startswith("folds-"):
            options["folds"] = int(part[6:])
        elif part.startswith("counting-"):
            options["_counting"] = part[9:].replace("-", "_")
        else:
            sys.exit(f"bad configuration {name!r}: unknown modifier {part!r}")
    if relabel and options["relabel"] is not False:
        options["relabel"] = relabel
    return options


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = p.add_mutually_exclusive_group()
    source.add_argument("--manifest", type=Path, help="fully labelled manifest (default: --dataset)")
    source.add_argument("--dataset", choices=sorted(DATASETS) + sorted(TABULAR_DATASETS),
                        help="a built-in offline dataset (default digits; satellite, letter: tables without images)")
    p.add_argument("--no-images", action="store_true", help="--manifest is a table: label and feature columns")
    p.add_argument("--pool-size", type=int, help="seeded stratified subsample of the pool")
    p.add_argument("--test-size", type=int, help="seeded stratified subsample of the holdout")
    p.add_argument("--configs", default="random,activelab/no-relabel,activelab,auto/no-relabel,auto")
    p.add_argument("--seeds", type=int, default=3)
    add_learner_arguments(p)
    p.add_argument("--annotators", type=int, default=5)
    p.add_argument("--accuracy", default="0.65,0.95", help="LOW,HIGH accuracy range of the simulated annotators")
    p.add_argument("--init-per-class", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/multiannotator"))
    p.add_argument("--summarize-only", action="store_true", help="only rebuild the summary from OUT/results.csv")
    return p.parse_args(argv)


def load_data(args):
    """(pool, holdout): the manifest's or dataset's split=train/test rows, else a seeded 20% holdout."""
    if is_table(args):
        return load_table(args)
    manifest = args.manifest or build_dataset(args.dataset or "digits")
    frame = autoal.load_manifest(manifest)
    if "split" in pd.read_csv(manifest, nrows=1).columns:
        pool, test = autoal.load_manifest(manifest, split="train"), autoal.load_manifest(manifest, split="test")
    else:
        test = subsample(frame, round(0.2 * len(frame)), seed=0)
        pool = frame.drop(index=test.index)
    return subsample(pool, args.pool_size), subsample(test, args.test_size)


def run_one(name, seed, pool, test, args, work, learner_settings) -> tuple:
    options = parse_config(name)
    counting = options.pop("_counting", None)
    low, high = (float(x) for x in args.accuracy.split(","))
    annotators = autoal.simulated_annotators(args.annotators, (low, high), random_state=seed)
    from autoal.multiannotator.crowdlab import counting_mode

    with counting_mode(counting or "cleanlab"):
        result = autoal.run(pool, test_df=test, annotators=annotators, learner=args.learner,
                            image_col=None if is_table(args) else "image_path",
                            learner_options=learner_settings, batch_size=args.batch_size, n_rounds=args.rounds,
                            initial_per_class=args.init_per_class, random_state=seed,
                            output_dir=work / f"{name.replace('/', '_')}-{seed}", verbose=False, **options)
    columns = ["round", "n_annotations", "n_labeled", "n_new_labels", "n_relabels", "n_multi_labeled", "accuracy",
               "consensus_accuracy", "round_seconds"]
    history = result.history.assign(config=name, seed=seed)
    return history[["config", "seed"] + [c for c in columns if c in history]], \
        result.annotator_quality.reset_index().assign(config=name, seed=seed)


def main(argv=None):
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.csv"
    if args.summarize_only:
        return summarize(pd.read_csv(results_path), args)
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    for name in configs:
        parse_config(name)  # fail before any run
    options = learner_options(args)  # a flag or option the learner does not take fails here, before any data is read
    pool, test = load_data(args)
    print(f"pool {len(pool)}, holdout {len(test)}, {pool['label'].nunique()} classes; learner {chosen_learner(args)}",
          flush=True)
    done = pd.read_csv(results_path) if results_path.exists() else pd.DataFrame(columns=["config", "seed"])
    finished = set(zip(done["config"], done["seed"]))
    work = Path(tempfile.mkdtemp(prefix="autoal-multi-"))
    try:
        for seed in range(args.seeds):
            for name in configs:
                if (name, seed) in finished:
                    print(f"seed {seed} {name:28s} already in {results_path}, skipped", flush=True)
                    continue
                started = time.perf_counter()
                history, annotators = run_one(name, seed, pool, test, args, work, options)
                history.to_csv(results_path, mode="a", header=not results_path.exists(), index=False)
                annotators_path = args.out / "annotators.csv"
                annotators.to_csv(annotators_path, mode="a", header=not annotators_path.exists(), index=False)
                shutil.rmtree(work / f"{name.replace('/', '_')}-{seed}", ignore_errors=True)
                print(f"seed {seed} {name:28s} accuracy {history['accuracy'].round(3).tolist()} relabels "
                      f"{int(history['n_relabels'].sum())} consensus {history['consensus_accuracy'].iloc[-1]:.3f} "
                      f"({time.perf_counter() - started:.0f}s)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summarize(pd.read_csv(results_path), args)


def summarize(results: pd.DataFrame, args):
    compare_to = [c for c in ("random", "activelab/no-relabel", "auto/no-relabel") if c in set(results["config"])]
    per_round, per_config = summarize_runs(results, budget="n_annotations", group="config", compare_to=compare_to)
    extra = results.groupby(["config", "seed"]).agg(relabels=("n_relabels", "sum")).groupby("config")["relabels"].mean()
    last = results[results["round"] == results.groupby(["config", "seed"])["round"].transform("max")]
    per_config["relabels_per_run"] = per_config["config"].map(extra)
    per_config["final_consensus_accuracy"] = per_config["config"].map(last.groupby("config")["consensus_accuracy"].mean())
    per_config["final_consensus_accuracy_std"] = per_config["config"].map(last.groupby("config")["consensus_accuracy"].std())
    per_round.to_csv(args.out / "summary.csv", index=False)
    per_config.to_csv(args.out / "configs.csv", index=False)
    plot_curves(per_round, args.out / "accuracy_vs_annotations.png", group="config", xlabel="annotations")
    command = command_line("benchmarks/multiannotator.py", args, leave_out=("summarize_only",))
    summary = {"date": time.strftime("%Y-%m-%d"), "command": command, "versions": package_versions(),
               "configs": json.loads(per_config.to_json(orient="records"))}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print(per_config.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
