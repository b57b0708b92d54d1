"""Compare query strategies over seeds on one manifest or a built-in offline dataset.

    python benchmarks/compare_strategies.py --dataset fashion-mnist --pool-size 3000 --test-size 1000 \\
        --strategies activelab,random,least_confidence,margin,entropy --seeds 3 --learner autogluon \\
        --rounds 4 --batch-size 100 --init-per-class 8 --out benchmarks/results/compare_fashion

Each (strategy, seed) run is appended to ``OUT/results.csv`` as soon as it finishes (one row per
strategy, seed and round) and skipped when the command is run again, so a stopped comparison keeps
its results and picks up where it stopped. At the end: ``summary.csv`` (per strategy and round: mean
+- std), ``strategies.csv`` (AULC, labels to reach random's final accuracy as a fraction of random's
labels, paired AULC differences), ``summary.json`` and ``learning_curves.png``.

A name in ``--strategies`` may add a batch rule and an initial-set rule after slashes:
``margin/kmeans`` (k-means batches), ``activelab/kmeans/init-kmeans`` (also a typical initial set);
a bare name means ``topk`` batches and a random initial set; ``auto`` is ``strategy="auto"`` with its own
batch and initial rules (k-means for both when embeddings or encoded feature columns are available).
``skactiveml:typiclust``, ``skactiveml:probcover``, ``skactiveml:maxherding``, ``skactiveml:dropquery`` and
``skactiveml:badge`` are scikit-activeml's strategies (``benchmarks/peer_strategies.py``): their own picks
(``topk``) from the initial set ``auto`` starts from (``init-coverage``), so that only the selection differs.

Tables without images: ``--dataset satellite`` or ``letter`` (R's mlbench, from Debian's
``r-cran-mlbench``, read with ``pip install rdata``; a seeded stratified 20% holdout), or
``--manifest table.csv --no-images`` (a CSV of a ``label`` and feature columns); the learner
``auto`` is then the TabularPredictor (``tabular``). ``--stop-report`` records the
stable-predictions stopping rule's kappa every round without stopping (columns ``stop_kappa``).
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
from autoal.data.datasets import DATASETS, TABULAR_DATASETS, build_dataset, load_tabular
from autoal.results.reporting import command_line, package_versions
from autoal.errors import InputError
from autoal.learners import make_learner
from autoal.rounds.config import resolve_learner

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/peer_strategies.py, also when run as a script
from peer_strategies import is_peer, make_peer, peer_names  # noqa: E402  (scikit-activeml itself only when used)


def seed_list(text: str) -> list:
    """``--only-seeds``: comma-separated whole numbers, or argparse's error naming what is wrong."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated seed numbers such as 3,0; got {text!r}") from None


def json_object(text) -> dict:
    """``--learner-options``: a JSON object, or argparse's error naming what is wrong with it."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON ({exc}); write e.g. '{{\"C\": 0.5}}'") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"a JSON object of option names and values, not {text!r}")
    return value


def add_learner_arguments(p: argparse.ArgumentParser) -> None:
    """The learner and its options (read by :func:`learner_options`); this benchmark's and multiannotator's."""
    p.add_argument("--learner", default="auto", choices=["auto"] + sorted(autoal.LEARNERS),
                   help="default auto: what autoal.run picks (embeddings for images, tabular for a table)")
    p.add_argument("--max-epochs", type=int, help="AutoGluon epochs per fit (default 20)")
    p.add_argument("--image-size", type=int, help="image side in pixels: AutoGluon's (default 128) or the "
                   "embeddings learner's (default: its own rule)")
    p.add_argument("--checkpoint", help="AutoGluon backbone: a checkpoint folder or random-init (default: the "
                   "pretrained MobileNetV2 when installed)")
    p.add_argument("--learner-options", type=json_object, default={}, metavar="JSON",
                   help='more options of the learner, as JSON, over the flags above: e.g. \'{"C": 0.5}\' for the '
                   'embeddings learner, \'{"peft": "norm_fit"}\' with --learner autogluon')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--manifest", type=Path, help="labelled manifest (label,image_path[,split])")
    source.add_argument("--dataset", choices=sorted(DATASETS) + sorted(TABULAR_DATASETS),
                        help="a built-in offline dataset (satellite, letter: tables without images)")
    p.add_argument("--no-images", action="store_true", help="--manifest is a table: label and feature columns")
    p.add_argument("--test", type=Path, help="holdout manifest (default: the manifest's split=test rows, "
                   "else a seeded stratified 20%% of it)")
    p.add_argument("--strategies", default="activelab,random,least_confidence,margin,entropy")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--only-seeds", type=seed_list, metavar="A,B,...", help="run only these of the seeds, in this "
                   "order (a long comparison spread over several sittings; the summary covers every finished run)")
    add_learner_arguments(p)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=150)
    p.add_argument("--init-per-class", type=int, default=8)
    p.add_argument("--pool-size", type=int, help="seeded stratified subsample of the pool")
    p.add_argument("--test-size", type=int, help="seeded stratified subsample of the holdout")
    p.add_argument("--imbalance", type=float, help="make the pool's classes imbalanced: the i-th of K classes keeps "
                   "a share RATIO ** (-i / (K - 1)) of its rows (the largest all, the smallest 1/RATIO); the holdout "
                   "stays as it is")
    p.add_argument("--candidates-factor", type=float, default=10, help="shortlist size of kmeans batches, in batches")
    p.add_argument("--pool-subsample", type=int, help="score only this many unlabelled examples per round")
    p.add_argument("--stop-report", action="store_true", help="record the stable-predictions rule's kappa per round")
    p.add_argument("--compare-to", default="random,entropy", help="strategies for paired AULC differences")
    p.add_argument("--baseline", default="random", help="the strategy whose final accuracy the others' labels to "
                   "reach are measured against (default random; e.g. random+graph=off)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--verbose", action="store_true", help="autoal's per-round lines too")
    args = p.parse_args(argv)
    if args.imbalance is not None and not args.imbalance >= 1:
        p.error(f"--imbalance must be a ratio of at least 1 (the largest class over the smallest), got {args.imbalance}")
    return args


def subsample(frame, n, seed=0):
    """A seeded stratified subsample of ``n`` rows (all rows when n is None or too large)."""
    if n is None or n >= len(frame):
        return frame
    share = n / len(frame)
    parts = [g.sample(max(1, round(share * len(g))), random_state=seed) for _, g in frame.groupby("label")]
    return pd.concat(parts).sort_index()


def imbalanced(frame, ratio, seed=0):
    """A seeded subsample whose classes shrink geometrically, from all rows of the first (sorted) class to
    ``1 / ratio`` of the last's."""
    classes = sorted(frame["label"].unique())
    shares = {c: ratio ** (-i / max(1, len(classes) - 1)) for i, c in enumerate(classes)}
    parts = [g.sample(max(1, round(shares[c] * len(g))), random_state=seed) for c, g in frame.groupby("label")]
    return pd.concat(parts).sort_index()


def is_table(args) -> bool:
    return args.no_images or args.dataset in TABULAR_DATASETS


def load_data(args):
    if is_table(args):
        frame = pd.read_csv(args.manifest) if args.manifest is not None else load_tabular(args.dataset)
        test = subsample(frame, round(0.2 * len(frame)), seed=0)
        return subsample(frame.drop(index=test.index), args.pool_size), subsample(test, args.test_size)
    manifest = args.manifest or build_dataset(args.dataset)
    has_split = "split" in pd.read_csv(manifest, nrows=1).columns
    if args.test is not None:
        pool, test = autoal.load_manifest(manifest), autoal.load_manifest(args.test)
    elif has_split:
        pool, test = autoal.load_manifest(manifest, split="train"), autoal.load_manifest(manifest, split="test")
    else:
        frame = autoal.load_manifest(manifest)
        # each class sampled with its own generator seeded 0, as before (groupby.sample shares one generator)
        held = [i for _, g in frame.groupby("label") for i in g.sample(frac=0.2, random_state=0).index]
        test = frame.loc[held]
        pool = frame.drop(index=test.index)
    pool = subsample(pool, args.pool_size)
    if getattr(args, "imbalance", None):
        pool = imbalanced(pool, args.imbalance)
    return pool, subsample(test, args.test_size)


def config_learner_options(name) -> tuple:
    """``config+key=value+...`` -> ``(config, {key: value})``: learner options for this configuration only, over
    ``--learner-options`` (a value is read as JSON when it parses, else kept as text: ``random+graph=off``,
    ``auto+C=1.0``); SystemExit when a part is not ``key=value``."""
    config, *parts = name.split("+")
    options = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep or not key:
            sys.exit(f"bad configuration {name!r}: {part!r} is not key=value (e.g. random+graph=off)")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return config, options


def parse_config(name):
    """``strategy[/topk|/kmeans|/coverage-first][/init-kmeans|/init-coverage][+option=value...]`` -> run() keyword arguments (learner options in
    ``"learner_options"``); SystemExit when malformed."""
    name, learner_extra = config_learner_options(name)
    strategy, *rest = name.split("/")
    options = {"strategy": strategy, "batch": "topk", "initial": "random"}
    if strategy == "auto":  # the default combination, with its own batch and initial rules
        options.update(batch="auto", initial="auto")
    elif is_peer(strategy):  # scikit-activeml's picks as they are, from the initial set auto starts from
        options.update(strategy=peer_strategy(strategy, name), initial=PEER_INITIAL)
    for part in rest:
        if part in ("topk", "kmeans", "coverage-first"):
            options["batch"] = part
        elif part in ("init-kmeans", "init-random", "init-coverage"):
            options["initial"] = part[5:]
        else:
            sys.exit(f"bad strategy configuration {name!r}: {part!r} is not topk, kmeans, coverage-first, init-kmeans, "
                     "init-coverage or init-random")
    if is_peer(strategy) and options["batch"] != "topk":
        sys.exit(f"bad strategy configuration {name!r}: a scikit-activeml strategy chooses its whole batch itself, "
                 "so it takes topk batches only; leave out /kmeans")
    if not is_peer(strategy) and strategy not in list(autoal.STRATEGIES) + ["auto"]:
        sys.exit(f"unknown strategy {strategy!r} in {name!r}; choose from {['auto', *autoal.STRATEGIES, *peer_names()]}")
    options["learner_options"] = learner_extra
    return options


#: The peers' initial set: what ``auto`` resolves to with embeddings and the default learner
#: (autoal.rounds.config.RunConfig.resolved: the central example of each k-means cluster of the pool graph's space),
#: so that a peer and ``auto`` label the same examples first.
PEER_INITIAL = "coverage"


def peer_strategy(strategy, name):
    """The scikit-activeml strategy named ``strategy`` (``skactiveml:badge``); SystemExit listing the valid names."""
    try:
        return make_peer(strategy)
    except InputError as exc:
        sys.exit(f"bad strategy configuration {name!r}: {exc}")


def chosen_learner(args) -> str:
    """The learner ``autoal.run`` uses for ``--learner`` (``auto``: embeddings for images, tabular for a table)."""
    return resolve_learner(args.learner, None if is_table(args) else "image_path")


def learner_options(args) -> dict:
    """The chosen learner's options from the flags, ``--learner-options`` over them; exits naming the fix when a
    flag or option belongs to another learner (before any data is read)."""
    learner = chosen_learner(args)
    if learner == "embeddings":  # one cache for all runs: each image is embedded once
        options = {"cache_dir": str(args.out / "embedding_cache"), "image_size": args.image_size}
    elif learner == "autogluon":
        options = {"max_epochs": args.max_epochs, "image_size": args.image_size, "checkpoint": args.checkpoint}
    else:
        options = {}
    if learner != "autogluon" and (args.max_epochs or args.checkpoint):
        sys.exit(f"--max-epochs and --checkpoint set the AutoGluon learner, but this comparison uses {learner!r}: "
                 "add --learner autogluon, or leave them out")
    options = {**{k: v for k, v in options.items() if v}, **args.learner_options}
    try:
        make_learner(learner, **options)  # only stores the options: an unknown name fails here, not in the first run
    except InputError as exc:
        sys.exit(f"--learner-options: {exc}")
    return options


def main(argv=None):
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    configs = {name: parse_config(name) for name in strategies}
    options = learner_options(args)
    outside = [seed for seed in args.only_seeds or () if seed not in range(args.seeds)]
    if outside:
        sys.exit(f"--only-seeds: {outside} not among the --seeds {args.seeds} seeds (0 to {args.seeds - 1})")
    pool, test = load_data(args)
    print(f"pool {len(pool)}, holdout {len(test)}, {pool['label'].nunique()} classes; learner {chosen_learner(args)}",
          flush=True)
    results_path = args.out / "results.csv"
    done = pd.read_csv(results_path) if results_path.exists() else pd.DataFrame(columns=["strategy", "seed"])
    finished = set(zip(done["strategy"], done["seed"]))
    work = Path(tempfile.mkdtemp(prefix="autoal-compare-"))
    try:
        for seed in args.only_seeds or range(args.seeds):
            for strategy in strategies:
                if (strategy, seed) in finished:
                    print(f"seed {seed} {strategy:17s} already in {results_path}, skipped", flush=True)
                    continue
                t = time.perf_counter()
                folder = work / f"{strategy.replace('/', '_').replace('+', '_')}-{seed}"
                config = dict(configs[strategy])
                run_options = {**options, **config.pop("learner_options")}
                result = autoal.run(pool, test_df=test, **config, learner=args.learner,
                                    image_col=None if is_table(args) else "image_path",
                                    learner_options=run_options, batch_size=args.batch_size,
                                    candidates_factor=args.candidates_factor, pool_subsample=args.pool_subsample,
                                    stop={"report_only": True} if args.stop_report else None,
                                    n_rounds=args.rounds, initial_per_class=args.init_per_class, random_state=seed,
                                    output_dir=folder, verbose=args.verbose)
                columns = ["round", "n_labeled", "accuracy", "fit_seconds", "round_seconds"]
                columns += [c for c in ("stop_kappa",) if c in result.history]
                # the graph's weight in the mixture, NaN without one; the selection's time in a round: the strategy's
                # scores, then the batch rule (the same columns for every row of the file)
                extra = {c: result.history.get(c, float("nan")) for c in ("graph_weight", "score_seconds",
                                                                          "select_seconds")}
                rows = result.history[columns].assign(**extra, strategy=strategy, seed=seed)
                append_rows(rows, results_path)
                shutil.rmtree(folder, ignore_errors=True)
                print(f"seed {seed} {strategy:17s} accuracy {rows['accuracy'].round(3).tolist()} "
                      f"({time.perf_counter() - t:.0f}s)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summarize(pd.read_csv(results_path), args)


def append_rows(rows, path) -> None:
    """Append ``rows`` to the CSV at ``path`` under its header (a file begun before a column existed keeps its
    columns: the new one is left out, a missing one left empty), or start the file."""
    if path.exists():
        rows = rows.reindex(columns=pd.read_csv(path, nrows=0).columns)
    rows.to_csv(path, mode="a", header=not path.exists(), index=False)


def summarize(results, args):
    compare_to = [s for s in args.compare_to.split(",") if s in set(results["strategy"])]
    per_round, per_strategy = summarize_runs(results, baseline=args.baseline, compare_to=compare_to)
    per_round.to_csv(args.out / "summary.csv", index=False)
    per_strategy.to_csv(args.out / "strategies.csv", index=False)
    plot_curves(per_round, args.out / "learning_curves.png")
    command = command_line("benchmarks/compare_strategies.py", args, leave_out=("verbose",))
    summary = {"date": time.strftime("%Y-%m-%d"), "command": command, "versions": package_versions(),
               "strategies": json.loads(per_strategy.to_json(orient="records"))}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(per_strategy.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
