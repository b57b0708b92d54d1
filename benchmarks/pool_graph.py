"""The pool graph at scale: building it for 10k to 1M vectors, and what it adds to a later round.

    python benchmarks/pool_graph.py --out benchmarks/results/pool_graph

The vectors are synthetic (the machine cannot embed a million images): a seeded mixture of ``--classes``
Gaussian clusters of the embeddings learner's width (``--dim``, 2,560 = MobileNetV2 + EfficientNet-Lite0) with
most of the variance in a 64-d subspace, as real embeddings have. Each size runs in its own process (its peak
memory is its own) and measures:

- ``build_seconds``: :meth:`autoal.graph.pool_graph.PoolGraph.build` (whitening fitted on a seeded 20,000, every
  vector transformed, each joined to its 15 nearest: exact search up to 50,000 vectors, faiss HNSW beyond), what a
  run's first round adds once;
- ``recall``: of the approximate search, against exact search for 1,000 sampled vectors;
- ``head_seconds``: a later round's graph work in the embeddings learner (:class:`autoal.learners.graph_head.GraphHead`:
  Poisson learning for ``--labels`` labels and the held-out solves that choose the mixture), beside
  ``logistic_seconds``: the logistic regression's fit on the same labels and its predictions for the whole pool,
  the bulk of a round of the learner without the graph;
- ``peak_rss_gib``: the process's peak resident memory, the vectors included.

Writes ``sizes.csv`` (one row per size) and ``summary.json`` (command, date, versions).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated pool sizes")
    p.add_argument("--dim", type=int, default=2560, help="vector width (the default learner's: 2,560)")
    p.add_argument("--big-dim", type=int, default=256,
                   help="vector width from 500,000 vectors up (a million 2,560-d float32 vectors are 10 GB)")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--labels", type=int, default=500, help="labels of the timed later round")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)  # measure one size in this process
    return p.parse_args(argv)


def synthetic_vectors(n, dim, classes, seed):
    """``n`` float32 vectors of ``dim`` and their cluster (class) numbers: cluster centres in a 64-d subspace plus
    within-cluster spread there, and small noise in every dimension; made in chunks to bound memory."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(64, dim)).astype(np.float32) / 8.0
    centres = rng.normal(size=(classes, 64)).astype(np.float32) * 0.3
    labels = rng.integers(0, classes, n)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 50_000):
        stop = min(n, start + 50_000)
        inner = centres[labels[start:stop]] + rng.normal(size=(stop - start, 64)).astype(np.float32)
        out[start:stop] = inner @ basis + 0.05 * rng.normal(size=(stop - start, dim)).astype(np.float32)
    return out, labels


def measure(n, args) -> dict:
    from autoal.common.threads import one_blas_thread
    from autoal.graph.neighbours import NeighbourIndex
    from autoal.graph.pool_graph import PoolGraph
    from autoal.learners.graph_head import GraphHead
    from sklearn.linear_model import LogisticRegression

    dim = args.dim if n < 500_000 else args.big_dim
    vectors, truth = synthetic_vectors(n, dim, args.classes, args.seed)
    started = time.perf_counter()
    graph = PoolGraph.build(vectors, random_state=args.seed)
    build = time.perf_counter() - started
    row = {"n": n, "dim": dim, "search": graph.index.method, "build_seconds": round(build, 1),
           "edges": int(graph.weights.nnz)}
    rng = np.random.default_rng([args.seed, 1])
    if graph.index.method == "approximate":
        sample = rng.choice(n, 1000, replace=False)
        approximate = graph.index.query(graph.points[sample], 16)[1]
        exact = NeighbourIndex(graph.points, method="exact").query(graph.points[sample], 16)[1]
        row["recall"] = round(float(np.mean([len(set(a) & set(e)) / 16 for a, e in zip(approximate, exact)])), 3)
    nodes = rng.choice(n, args.labels, replace=False)
    labels = truth[nodes]
    with one_blas_thread():
        started = time.perf_counter()
        model = LogisticRegression(max_iter=1000).fit(vectors[nodes], labels)
        pool_probs = np.vstack([model.predict_proba(vectors[s:s + 50_000]) for s in range(0, n, 50_000)])
        row["logistic_seconds"] = round(time.perf_counter() - started, 2)

        def logistic_without(train, held):
            return LogisticRegression(max_iter=1000).fit(vectors[nodes[train]], labels[train]).predict_proba(
                vectors[nodes[held]])

        started = time.perf_counter()
        head = GraphHead.fit(graph, nodes, labels, args.classes, logistic_without=logistic_without,
                             random_state=args.seed)
        row["head_seconds"] = round(time.perf_counter() - started, 2)
    unlabelled = np.setdiff1d(np.arange(n), nodes)
    mixed = head.mix(head.probabilities(head.scores), pool_probs)
    row.update(graph_weight=round(head.weight, 2),
               accuracy_logistic=round(float((pool_probs[unlabelled].argmax(1) == truth[unlabelled]).mean()), 3),
               accuracy_combined=round(float((mixed[unlabelled].argmax(1) == truth[unlabelled]).mean()), 3),
               peak_rss_gib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, 2))
    return row


def main(argv=None):
    args = parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, args)))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        command = [sys.executable, __file__, "--out", str(args.out), "--one", str(n), "--dim", str(args.dim),
                   "--big-dim", str(args.big_dim), "--classes", str(args.classes), "--labels", str(args.labels),
                   "--seed", str(args.seed)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"size {n} failed:\n{done.stderr[-3000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
        pd.DataFrame(rows).to_csv(args.out / "sizes.csv", index=False)
    import faiss
    import sklearn

    (args.out / "summary.json").write_text(json.dumps({
        "command": " ".join([Path(sys.argv[0]).as_posix()] + sys.argv[1:]), "date": time.strftime("%Y-%m-%d %H:%M"),
        "python": platform.python_version(), "numpy": np.__version__, "scikit-learn": sklearn.__version__,
        "faiss": faiss.__version__, "sizes": rows}, indent=1))


if __name__ == "__main__":
    main()
