"""Exact outputs of a few fixed runs, to show that a refactor keeps behaviour.

    python benchmarks/behaviour_reference.py --out benchmarks/results/behaviour_reference/before.json
    python benchmarks/behaviour_reference.py --out /tmp/after.json --compare benchmarks/results/behaviour_reference/before.json

Each run is seeded and runs on sklearn's digits (built offline): the fast learner with one annotator
and with several (ActiveLab, relabeling, cross-validated probabilities), the embeddings learner, a cold
start in real mode, and a relabel-only run (every example arrives labelled once, as ``given``). For each
it records the per-round accuracy (exact, as ``repr``), the picked ids, the consensus labels, and the
contents of the run store that do not depend on the clock (annotations, assignments, skips, stored
probabilities' digests, round records without timings). ``--compare`` prints every difference and exits
1 when there is one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

import autoal
from autoal.data.datasets import build_digits

#: Round-record fields that depend on the clock or the machine, left out of the comparison.
VOLATILE = ("seconds", "timestamp", "time", "workers", "peak", "versions", "started", "elapsed", "_at", "created",
            "run_id", "output_dir")


def digits(n, data_dir, seed=0) -> pd.DataFrame:
    """A seeded, stratified subsample of ``n`` digits with absolute image paths."""
    manifest = build_digits(data_dir)
    df = pd.read_csv(manifest)
    df["image_path"] = [str(manifest.parent / p) for p in df["image_path"]]
    return df.sample(n=n, random_state=seed).sort_index()


class NoisyTruth(autoal.Annotator):
    """Answers from a fixed table (a seeded noisy copy of the truth): usable in real mode."""

    def __init__(self, name, answers: pd.Series):
        self.name, self.answers = name, answers

    def annotate(self, examples):
        return self.answers.loc[examples.index].tolist()


def noisy(truth: pd.Series, accuracy, seed) -> pd.Series:
    rng = np.random.default_rng(seed)
    flip = rng.random(len(truth)) > accuracy
    other = (truth.to_numpy() + rng.integers(1, 10, len(truth))) % 10
    return pd.Series(np.where(flip, other, truth.to_numpy()), index=truth.index)


def runs(data_dir, out_dir):
    """The fixed runs: name -> a function of the run folder returning a RunResult."""
    small = digits(300, data_dir)
    truth = small["label"]

    def fast_one(out):
        return autoal.run(small, learner="fast", batch_size=20, n_rounds=3, initial_per_class=3,
                          output_dir=out, random_state=1, verbose=False)

    def fast_several(out):
        return autoal.run(small, learner="fast", strategy="activelab", batch_size=20, n_rounds=3,
                          initial_per_class=3, annotators=autoal.simulated_annotators(3, (0.6, 0.9)),
                          output_dir=out, random_state=2, verbose=False)

    def embeddings(out):
        return autoal.run(digits(200, data_dir, seed=3), learner="embeddings",
                          learner_options={"backbones": ["mobilenetv2_100"]}, batch_size=20, n_rounds=2,
                          initial_per_class=2, output_dir=out, random_state=3, verbose=False)

    def cold_start(out):
        df = small.assign(label=np.nan)
        test = digits(500, data_dir, seed=9)
        test = test[~test.index.isin(small.index)]
        return autoal.run(df, test_df=test, learner="fast", classes=list(range(10)), batch_size=30, n_rounds=2,
                          initial="kmeans", annotators=[NoisyTruth("ann", truth)], output_dir=out,
                          random_state=4, verbose=False)

    def relabel_only(out):
        given = small.assign(label=noisy(truth, 0.7, 5))
        test = digits(500, data_dir, seed=9)
        test = test[~test.index.isin(small.index)]
        people = [NoisyTruth(f"p{k}", noisy(truth, acc, 10 + k)) for k, acc in enumerate((0.9, 0.8, 0.75))]
        return autoal.run(given, test_df=test, simulate=False, learner="fast", strategy="activelab", batch_size=25,
                          n_rounds=3, annotators=people, output_dir=out, random_state=5, verbose=False)

    return {"fast_one": fast_one, "fast_several": fast_several, "embeddings": embeddings,
            "cold_start": cold_start, "relabel_only": relabel_only}


def _stable(value):
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in sorted(value.items()) if not any(w in k for w in VOLATILE)}
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def store_contents(folder: Path) -> dict:
    """What the run store holds, minus clock times: rows of each table (blobs as sha256 digests)."""
    out = {}
    with sqlite3.connect(f"file:{folder / 'run.sqlite'}?mode=ro", uri=True) as db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        for table in tables:
            columns = [c[1] for c in db.execute(f"PRAGMA table_info({table})")]
            keep = [c for c in columns if not any(w in c for w in VOLATILE)]
            rows = db.execute(f"SELECT {', '.join(keep)} FROM {table} ORDER BY {', '.join(keep)}").fetchall()
            if table == "meta":  # a run's id and creation time differ between identical runs
                rows = [row for row in rows if not any(w in row[0] for w in VOLATILE)]
            out[table] = [[_cell(table, c, v) for c, v in zip(keep, row)] for row in rows]
    return out


def _cell(table, column, value):
    if isinstance(value, bytes):
        return hashlib.sha256(value).hexdigest()[:16]
    if table == "rounds" and column == "record":
        return _stable(json.loads(value))
    if table in ("meta", "selections") and isinstance(value, str) and value.startswith("{"):
        return _stable(json.loads(value))
    if isinstance(value, float):
        return repr(value)
    return value


def record(name, make, out_dir: Path) -> dict:
    folder = out_dir / name
    result = make(folder)
    history = result.history
    return {
        "accuracy": [repr(float(a)) for a in history["accuracy"]],
        "picked_ids": [str(p) for p in history["picked_ids"]],
        "consensus": {str(k): str(v) for k, v in result.consensus["label"].items()},
        "store": store_contents(folder),
    }


def differences(before, after, path="") -> list:
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after)):
            if key not in before or key not in after:
                out.append(f"{path}/{key}: only {'after' if key in after else 'before'}")
            else:
                out += differences(before[key], after[key], f"{path}/{key}")
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [d for k, (b, a) in enumerate(zip(before, after)) for d in differences(b, a, f"{path}[{k}]")]
    return [] if before == after else [f"{path}: {str(before)[:200]} != {str(after)[:200]}"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--compare", help="a JSON file written before: print differences, exit 1 if any")
    parser.add_argument("--only", nargs="*", help="run only these (names: fast_one fast_several embeddings "
                                                  "cold_start relabel_only)")
    parser.add_argument("--data-dir", default=None, help="where digits is built (default autoal's cache)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="autoal-reference-") as tmp:
        chosen = {k: v for k, v in runs(args.data_dir, Path(tmp)).items() if not args.only or k in args.only}
        result = {name: record(name, make, Path(tmp)) for name, make in chosen.items()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1, sort_keys=True))
    if not args.compare:
        return 0
    before = json.loads(Path(args.compare).read_text())
    before = {k: v for k, v in before.items() if k in result}
    found = differences(before, result)
    print("\n".join(found[:200]) or "identical")
    print(f"{len(found)} differences")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
