"""A final AutoGluon model fitted once on a run's labels, against the run's own learner on the same holdout.

    python benchmarks/final_model.py --dataset fashion-mnist --pool-size 3000 --test-size 1000 \\
        --rounds 5 --batch-size 50 --init-per-class 5 --out benchmarks/results/final_model_fashion

One active-learning run (the default learner and strategy, simulated annotator) on the pool, then
``autoal.train_final_model`` fits ``--final-learner`` (AutoGluon MultiModal by default) once on the run's
consensus labels and measures it on the run's holdout beside the run's saved model. ``OUT/results.json``: both
accuracies, the labels, the final fit's seconds, the run's seconds, the command and the date. The run folder
(with both saved models) goes under ``--work`` (default a temporary folder), never into git.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def parse_args(argv=None):
    from autoal.data.datasets import DATASETS

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--manifest", type=Path, help="labelled manifest (label,image_path[,split])")
    source.add_argument("--dataset", choices=sorted(DATASETS), help="a built-in offline image dataset")
    p.add_argument("--test", type=Path, help="holdout manifest (default: the manifest's split=test rows)")
    p.add_argument("--pool-size", type=int, help="seeded stratified subsample of the pool")
    p.add_argument("--test-size", type=int, help="seeded stratified subsample of the holdout")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--init-per-class", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--final-learner", default="autogluon")
    p.add_argument("--final-options", type=json.loads, default={}, help="JSON learner options of the final learner")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--work", type=Path, help="where the run folder goes (default: a new temporary folder)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    import autoal
    from autoal.results.reporting import command_line, package_versions
    from compare_strategies import load_data

    args = parse_args(argv)
    loader = argparse.Namespace(manifest=args.manifest, dataset=args.dataset, test=args.test, no_images=False,
                                pool_size=args.pool_size, test_size=args.test_size)
    pool, test = load_data(loader)
    work = args.work or Path(tempfile.mkdtemp(prefix="autoal-final-model-"))
    run_dir = work / "run"
    started = time.perf_counter()
    result = autoal.run(pool, test_df=test, n_rounds=args.rounds, batch_size=args.batch_size,
                        initial_per_class=args.init_per_class, random_state=args.seed, output_dir=run_dir)
    run_seconds = time.perf_counter() - started
    final = autoal.train_final_model(run_dir, learner=args.final_learner, learner_options=args.final_options)
    history = result.history
    record = {
        "date": time.strftime("%Y-%m-%d %H:%M"), "command": command_line("benchmarks/final_model.py", args,
                                                                         leave_out=("work",)),
        "n_pool": len(pool), "n_test": len(test), "n_labeled": int(history["n_labeled"].iloc[-1]),
        "run_learner": result.summary["settings"]["learner"], "run_accuracy_history": float(result.final_accuracy),
        "run_accuracy": final["run_accuracy"], "final_learner": args.final_learner, "final_accuracy": final["accuracy"],
        "final_fit_seconds": final["fit_seconds"], "run_seconds": round(run_seconds, 1),
        "round_seconds": [round(float(s), 2) for s in history["round_seconds"]],
        "accuracy_per_round": [round(float(a), 4) for a in history["accuracy"]],
        "n_labeled_per_round": [int(n) for n in history["n_labeled"]], "versions": package_versions(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k != "versions"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
