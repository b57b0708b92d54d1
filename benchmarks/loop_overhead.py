"""autoal's own time per round at 10k, 100k and 1M pool examples, and the cold start at 1M: no learner cost.

    python benchmarks/loop_overhead.py --out benchmarks/results/loop_overhead

What is measured is everything autoal does in a round except the learner's work: reading the store's
snapshot, scoring (ActiveLab through cleanlab's CROWDLAB), selection (k-means batches), assignment,
committing answers, consensus, the round's record and its files. The learner is a fake one that
returns fixed probabilities and embeddings looked up by example id and counts the seconds spent in
its own methods (fit, predict_proba, features); a round's autoal time is its wall time minus those.

Each pool size runs in its own process (its peak memory is its own): a real-mode DataFrame of N
examples in 10 classes, 10% of them labelled by three annotators (``given`` with the DataFrame, then
``a1`` and ``a2`` added to the store before round 0 is trained), three annotators ``a1``-``a3`` who
answer with the hidden truth at once (so ``a3`` can still relabel every labelled example), the
default strategy (ActiveLab with k-means batches of 100, candidates factor 10, 1280-d embeddings),
a 1,000-example holdout. Image paths cycle over 200 small PNG files: the fake learner never opens
them, and the start-up check decodes each distinct file once. The cold start runs separately: N
unlabelled examples plus ``classes``, round 0 picks the 100 most typical (k-means on the embeddings).

Writes ``rounds.csv`` (one row per size and round), ``summary.csv``/``summary.md`` (means per size)
and ``summary.json`` (command, date, versions).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

N_CLASSES = 10
DIM = 1280


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated pool sizes")
    p.add_argument("--rounds", type=int, default=5, help="query rounds after round 0")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--cold-start-size", type=int, default=1_000_000, help="pool size of the cold start (0: skip)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/loop_overhead"))
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: "rounds:N" or "cold:N", run in this process
    return p.parse_args(argv)


# -- the fake learner -------------------------------------------------------------------------------


def _learner_class():
    from autoal.learners import Learner

    class FixedLearner(Learner):
        """Fixed probabilities and embeddings per example id (ids are 0..N-1); times its own methods."""

        def __init__(self, n=0, seed=0):
            self.n, self.seed = n, seed
            self.seconds = 0.0
            rng = np.random.default_rng(seed)
            self._probs = rng.dirichlet(np.full(N_CLASSES, 0.3), size=n).astype(np.float64)
            self._centres = rng.standard_normal((N_CLASSES, DIM)).astype(np.float32)
            self._class = rng.integers(0, N_CLASSES, size=n)

        def _ids(self, df):
            return np.asarray(df.index, dtype=np.int64) % self.n

        def fit(self, df):
            return self

        def predict_proba(self, df):
            started = time.perf_counter()
            out = self._probs[self._ids(df)]
            self.seconds += time.perf_counter() - started
            return out

        def embeddings(self, df):
            started = time.perf_counter()
            ids = self._ids(df)
            noise = np.stack([np.random.default_rng([self.seed, int(i)]).standard_normal(DIM, dtype=np.float32)
                              for i in ids]) if len(ids) else np.zeros((0, DIM), np.float32)
            out = self._centres[self._class[ids]] + noise
            self.seconds += time.perf_counter() - started
            return out

    return FixedLearner


# -- data -------------------------------------------------------------------------------------------


def _images(folder: Path, n=200) -> list:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for k in range(n):
        path = folder / f"{k:03d}.png"
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def _frames(n, folder, *, labelled_share):
    paths = _images(folder / "images")
    rng = np.random.default_rng(1)
    truth = rng.integers(0, N_CLASSES, size=n)
    df = pd.DataFrame({"label": truth.astype(object), "image_path": [paths[i % len(paths)] for i in range(n)]})
    hidden = truth.copy()
    df.loc[rng.random(n) >= labelled_share, "label"] = np.nan
    test = pd.DataFrame({"label": rng.integers(0, N_CLASSES, size=1000), "image_path": paths[:1] * 1000},
                        index=pd.RangeIndex(n, n + 1000))
    return df, test, hidden


def _truth_annotator(name, truth):
    from autoal.annotation.annotators import CallableAnnotator

    return CallableAnnotator(lambda examples: truth[np.asarray(examples.index, dtype=np.int64)].tolist(), name=name)


# -- measurements (each in its own process) -----------------------------------------------------


def measure_rounds(n, rounds, batch_size, work: Path) -> list:
    from autoal.rounds.loop import start_session
    from autoal.rounds.outcomes import Stopped, Trained, Waiting

    df, test, truth = _frames(n, work, labelled_share=0.1)
    learner = _learner_class()(n)
    annotators = [_truth_annotator(f"a{k}", truth) for k in (1, 2, 3)]
    started = time.perf_counter()
    session = start_session(df, test_df=test, learner=learner, annotators=annotators, batch_size=batch_size,
                            n_rounds=rounds, output_dir=work / "run", verbose=False)
    start_seconds = time.perf_counter() - started
    given = session.state.snapshot()
    extra = [(int(p), a, int(truth[p]), 0) for a in ("a1", "a2") for p in given.example]
    session.state.store.add_many(extra)  # set-up: the given 10% also labelled by a1 and a2
    rows = []
    with session:
        before, t = learner.seconds, time.perf_counter()
        while not isinstance(outcome := session.advance(), Stopped):
            if isinstance(outcome, Waiting):
                raise RuntimeError(f"every annotator here answers at once, yet {outcome.message}")
            if not isinstance(outcome, Trained):
                continue  # a batch dealt and answered: timed with the round that trains on it
            row, wall = outcome.row, time.perf_counter() - t
            learner_seconds = learner.seconds - before
            rows.append({"n": n, "round": outcome.round, "wall_seconds": wall, "learner_seconds": learner_seconds,
                         "autoal_seconds": wall - learner_seconds, "score_seconds": row.get("score_seconds", np.nan),
                         "consensus_seconds": row["consensus_seconds"], "n_annotations": row["n_annotations"],
                         "n_labeled": row["n_labeled"], "n_relabels": row["n_relabels"], "start_seconds": start_seconds,
                         "peak_rss_gb": _peak_rss_gb()})
            before, t = learner.seconds, time.perf_counter()
        session.result("benchmark done")
    return rows


def measure_cold_start(n, batch_size, work: Path) -> dict:
    from autoal.rounds.loop import start_session

    df, test, truth = _frames(n, work, labelled_share=0.0)
    learner = _learner_class()(n)
    started = time.perf_counter()
    session = start_session(df, test_df=test, learner=learner, annotators=[_truth_annotator("a1", truth)],
                            classes=list(range(N_CLASSES)), batch_size=batch_size, n_rounds=1,
                            output_dir=work / "run", verbose=False)
    start_seconds = time.perf_counter() - started
    before, t = learner.seconds, time.perf_counter()
    session.advance()  # round 0: the cold start's pick, dealt and answered at once
    wall = time.perf_counter() - t
    picked = len(session.state.snapshot().assigned_in(0))
    session.close()
    return {"n": n, "start_seconds": start_seconds, "cold_start_seconds": wall - (learner.seconds - before),
            "features_seconds": learner.seconds - before, "picked": picked, "peak_rss_gb": _peak_rss_gb()}


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # Linux reports KiB


# -- driver -----------------------------------------------------------------------------------------


def _in_subprocess(what, args) -> object:
    command = [sys.executable, __file__, "--one", what, "--rounds", str(args.rounds), "--batch-size", str(args.batch_size)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{what} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    args = parse_args(argv)
    if args.one:
        kind, n = args.one.split(":")
        with tempfile.TemporaryDirectory(prefix="autoal-overhead-") as work:
            result = (measure_rounds(int(n), args.rounds, args.batch_size, Path(work)) if kind == "rounds"
                      else measure_cold_start(int(n), args.batch_size, Path(work)))
        print(json.dumps(result))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in [int(x) for x in args.sizes.split(",")]:
        rows += _in_subprocess(f"rounds:{n}", args)
        pd.DataFrame(rows).to_csv(args.out / "rounds.csv", index=False)
        print(f"n={n}: autoal seconds per round {[round(r['autoal_seconds'], 2) for r in rows if r['n'] == n]}", flush=True)
    cold = _in_subprocess(f"cold:{args.cold_start_size}", args) if args.cold_start_size else None
    summarize(pd.DataFrame(rows), cold, args)


def summarize(rounds: pd.DataFrame, cold, args) -> None:
    from autoal.results.reporting import command_line, package_versions

    query = rounds[rounds["round"] > 0]
    per_size = query.groupby("n").agg(
        autoal_seconds=("autoal_seconds", "mean"), autoal_max=("autoal_seconds", "max"),
        score_seconds=("score_seconds", "mean"), consensus_seconds=("consensus_seconds", "mean"),
        learner_seconds=("learner_seconds", "mean"), n_annotations=("n_annotations", "max"),
        start_seconds=("start_seconds", "first"), peak_rss_gb=("peak_rss_gb", "max")).reset_index()
    per_size["bookkeeping_seconds"] = per_size["autoal_seconds"] - per_size["score_seconds"] - per_size["consensus_seconds"]
    per_size.to_csv(args.out / "summary.csv", index=False)
    lines = ["| pool | annotations | autoal s/round (mean, max) | of which ActiveLab scoring | of which consensus | "
             "rest (store, selection, assignment, record) | start-up s | peak RSS GB |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for _, r in per_size.iterrows():
        lines.append(f"| {int(r.n):,} | {int(r.n_annotations):,} | {r.autoal_seconds:.2f} ({r.autoal_max:.2f}) | "
                     f"{r.score_seconds:.2f} | {r.consensus_seconds:.2f} | {r.bookkeeping_seconds:.2f} | "
                     f"{r.start_seconds:.1f} | {r.peak_rss_gb:.2f} |")
    if cold:
        lines.append(f"\nCold start at {cold['n']:,}: start-up {cold['start_seconds']:.1f} s, choosing {cold['picked']} typical "
                     f"examples {cold['cold_start_seconds']:.1f} s (+ {cold['features_seconds']:.1f} s of the fake "
                     f"learner's embeddings), peak RSS {cold['peak_rss_gb']:.2f} GB")
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    command = command_line("benchmarks/loop_overhead.py", args, leave_out=("one",))
    (args.out / "summary.json").write_text(json.dumps(
        {"date": time.strftime("%Y-%m-%d"), "command": command, "versions": package_versions(),
         "per_size": json.loads(per_size.to_json(orient="records")), "cold_start": cold}, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
