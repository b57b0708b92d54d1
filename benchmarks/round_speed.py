"""How long a person waits between batches: per-round cost of each learner at growing pool sizes.

    python benchmarks/round_speed.py --out benchmarks/results/round_speed

On Fashion-MNIST (Debian's dataset-fashion-mnist; pools are prefixes of one seeded shuffle of its
60,000 training images, holdout: 1,000 of its test images), with the same labels for every learner
(the first ``--labels`` examples of the shuffle given, one round of ``--batch-size`` asked from a
simulated annotator who answers with the truth):

- ``embed_pass``: the one-time embedding pass (cold cache) over the largest pool and the holdout;
- ``throughput``: embedding throughput of autoal (hashing, cache and all) against a bare torch
  forward pass of the same backbone on the same images, both loading and resizing with PIL;
- ``round``: one real autoal round (``autoal.run``, real mode, 1 round): fit, pool prediction,
  ActiveLab scoring, selection and holdout accuracy, per learner and pool size (1k, 10k, 60k);
- ``accuracy``: holdout accuracy of the embeddings and fine-tune learners at the same label counts;
- ``ray``: pool prediction with 2 local Ray workers against 1 process (same probabilities?);
- ``cache_1m``: a memory-mapped embedding cache of 1,000,000 synthetic rows: write, random reads,
  peak memory.

Every measurement runs in its own subprocess, so its peak resident memory (``ru_maxrss``) is its
own. Results: ``OUT/results.jsonl`` (one JSON record per measurement, appended as each finishes,
and skipped on a re-run), ``OUT/summary.md`` (the tables) and ``OUT/summary.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LEARNERS = {  # name -> (learner, learner_options, run() extras)
    "embeddings": ("embeddings", {}, {}),  # the default backbones (MobileNetV2 + EfficientNet-Lite0)
    "embeddings-mobilenetv2": ("embeddings", {"backbones": ["mobilenetv2_100"]}, {}),  # the default before 2026-12-02
    "embeddings-128px": ("embeddings", {"image_size": 128}, {}),  # the small-image side before 2026-12-03
    "embeddings-3backbones": ("embeddings", {"backbones": ["mobilenetv2_100", "tf_efficientnet_lite0",
                                                           "tf_efficientnet_lite2"]}, {}),
    "embeddings+kmeans": ("embeddings", {}, {"batch": "kmeans"}),
    "embeddings-tabular": ("embeddings", {"head": "tabular"}, {}),
    # fine-tuning as its figures were measured: 64 px, one fit a round (the defaults until 2026-12-03)
    "autogluon": ("autogluon", {"image_size": 64, "fits_per_round": 1}, {}),
    "autogluon+subsample5k": ("autogluon", {"image_size": 64, "fits_per_round": 1}, {"pool_subsample": 5000}),
    "autogluon-default": ("autogluon", {}, {}),  # today's defaults: 128 px, two fits a round
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--pool-sizes", default="1000,10000,60000")
    p.add_argument("--learners", default=",".join(LEARNERS))
    p.add_argument("--labels", type=int, default=500, help="labels given before the timed round")
    p.add_argument("--accuracy-labels", default="400,1900", help="given labels for the accuracy comparison "
                   "(one round of --batch-size more is then asked)")
    p.add_argument("--accuracy-seeds", default="", help="comma-separated seeds: the accuracy comparison also runs "
                   "with the given labels drawn at random (one draw per seed) instead of the pool's first ones")
    p.add_argument("--accuracy-pool", type=int, default=10000)
    p.add_argument("--accuracy-learners", default="embeddings,autogluon",
                   help="learners of the accuracy comparison (names as in --learners)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--holdout", type=int, default=1000)
    p.add_argument("--throughput-images", type=int, default=5000)
    p.add_argument("--ray-pool", type=int, default=10000)
    p.add_argument("--cache-rows", type=int, default=1_000_000)
    p.add_argument("--only", help="comma-separated measurement kinds to run (default: all)")
    p.add_argument("--task", help=argparse.SUPPRESS)  # internal: one measurement, in a subprocess
    p.add_argument("--params", help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ----- data ---------------------------------------------------------------------------------------

def load_data(n_pool, n_holdout):
    """The first ``n_pool`` images of a seeded shuffle of the training split, and a seeded holdout."""
    import autoal
    from autoal.data.datasets import build_dataset

    manifest = build_dataset("fashion-mnist")
    train = autoal.load_manifest(manifest, split="train")
    test = autoal.load_manifest(manifest, split="test")
    order = np.random.default_rng(0).permutation(len(train))
    pool = train.iloc[order[:n_pool]].reset_index(drop=True)
    holdout = test.sample(n=min(n_holdout, len(test)), random_state=0).reset_index(drop=True)
    return pool, holdout


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_parts_mb() -> dict:
    """Current resident memory split into anonymous (the process's own) and file-backed (mapped files)."""
    fields = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(("RssAnon:", "RssFile:")):
                name, value = line.split(":")
                fields[name.strip().lower() + "_mb"] = int(value.split()[0]) / 1024
    return fields


# ----- measurements (each runs in a subprocess) -----------------------------------------------------

def task_embed_pass(params):
    from autoal.learners import EmbeddingLearner

    pool, holdout = load_data(params["pool"], params["holdout"])
    cache = Path(params["cache_dir"])
    shutil.rmtree(cache, ignore_errors=True)
    learner = EmbeddingLearner(cache_dir=cache).configure(classes=sorted(pool["label"].unique()))
    frame = pd.concat([pool, holdout], ignore_index=True)
    t = time.perf_counter()
    learner.embeddings(frame)
    seconds = time.perf_counter() - t
    return {"images": len(frame), "seconds": seconds, "images_per_second": len(frame) / seconds,
            "backbone": learner.embedder.backbone_id}


def task_throughput(params):
    """autoal's embedding (cold cache) vs a bare torch loop over the same images, same network."""
    import torch
    from PIL import Image

    from autoal.learners import EmbeddingLearner

    pool, _ = load_data(params["images"], 1)
    paths = pool["image_path"].tolist()
    cache = Path(params["cache_dir"])
    shutil.rmtree(cache, ignore_errors=True)
    learner = EmbeddingLearner(cache_dir=cache).configure(classes=sorted(pool["label"].unique()))
    learner.resolve_options(pool)  # the image size the learner would choose for these images
    embedder = learner.embedder
    model = embedder.model  # built before timing either side
    size, batch = embedder.image_size, embedder.batch_size
    mean = torch.tensor(embedder.mean).view(1, 3, 1, 1)
    std = torch.tensor(embedder.std).view(1, 3, 1, 1)

    def bare():
        out = []
        with torch.inference_mode():
            for start in range(0, len(paths), batch):
                arrays = [np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.BILINEAR))
                          for p in paths[start:start + batch]]
                x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div(255)
                x = ((x - mean) / std).contiguous(memory_format=torch.channels_last)  # the model's layout
                out.append(model(x).numpy())
        return np.concatenate(out)

    bare()  # warm-up: page cache and torch kernels, for both sides
    t = time.perf_counter()
    reference = bare()
    bare_seconds = time.perf_counter() - t
    t = time.perf_counter()
    ours = learner.embeddings(pool)
    autoal_seconds = time.perf_counter() - t
    return {"images": len(paths), "bare_seconds": bare_seconds, "autoal_seconds": autoal_seconds,
            "bare_images_per_second": len(paths) / bare_seconds, "autoal_images_per_second": len(paths) / autoal_seconds,
            "throughput_ratio": bare_seconds / autoal_seconds,
            "max_abs_difference": float(np.abs(reference - ours).max())}


def task_round(params):
    import autoal

    learner, options, extras = LEARNERS[params["learner"]]
    pool, holdout = load_data(params["pool"], params["holdout"])
    truth = pool["label"].copy()
    frame = pool.copy()
    if params.get("label_seed") is None:
        frame.loc[params["labels"]:, "label"] = np.nan  # the pool's first images are given
    else:  # a seeded random draw of them
        given = np.random.default_rng(params["label_seed"]).permutation(len(frame))[:params["labels"]]
        frame.loc[~frame.index.isin(frame.index[given]), "label"] = np.nan
    if learner == "embeddings":
        options = {**options, "cache_dir": params["cache_dir"]}
    out = Path(params["work"])
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    result = autoal.run(frame, test_df=holdout, learner=learner, learner_options=options, strategy="activelab",
                        annotators=autoal.CallableAnnotator(lambda examples: truth.loc[examples.index].tolist(),
                                                            name="truth"),
                        batch=extras.get("batch", "topk"), pool_subsample=extras.get("pool_subsample"),
                        batch_size=params["batch_size"], n_rounds=1, output_dir=out, verbose=False)
    total = time.perf_counter() - t
    row0, row1 = result.history.iloc[0], result.history.iloc[1]
    stages = ["fit_seconds", "predict_seconds", "score_seconds", "select_seconds"]
    record = {k: float(row1[k]) for k in stages + ["eval_seconds"]}
    record.update(round_seconds=sum(record[k] for k in stages), n_scored=int(row1["n_scored"]) + params["labels"],
                  labels_round0=int(row0["n_labeled"]), labels=int(row1["n_labeled"]),
                  accuracy_round0=float(row0["accuracy"]), accuracy=float(row1["accuracy"]),
                  first_fit_seconds=float(row0["fit_seconds"]), run_seconds=total,
                  consensus_seconds=float(row1.get("consensus_seconds", np.nan)), n_relabels=int(row1["n_relabels"]))
    shutil.rmtree(out, ignore_errors=True)
    return record


def task_ray(params):
    """Pool prediction in 1 process vs sharded over 2 local Ray workers; embeddings from a cold cache."""
    from autoal.learners import make_learner
    from autoal.rounds.pool_prediction import RayScorer, predict_pool

    pool, _ = load_data(params["pool"], 1)
    classes = sorted(pool["label"].unique())
    train, rest = pool.iloc[:params["labels"]], pool.drop(columns=["label"])
    record = {}
    for name in params["learners"]:
        results = {}
        for mode in ("local", "ray"):
            options = dict(LEARNERS[name][1])
            if name == "embeddings":  # a cold cache for each mode: the embedding pass is what Ray shards
                cache = Path(params["work"]) / f"cache-{mode}"
                shutil.rmtree(cache, ignore_errors=True)
                options["cache_dir"] = str(cache)
            learner = make_learner(name, **options).configure(classes=classes, output_dir=Path(params["work"]) / f"{name}-{mode}")
            learner.fit(train)  # the embeddings learner caches only the labelled images here
            scorer = RayScorer(num_workers=2) if mode == "ray" else None
            if scorer is not None:
                scorer.connect()
                predict_pool(learner, rest.iloc[:4], scorer)  # workers started and warm, as in a run's later rounds
            t = time.perf_counter()
            probs = predict_pool(learner, rest, scorer)
            results[mode] = (time.perf_counter() - t, probs)
            if scorer is not None:
                scorer.shutdown()
        (local_s, local_p), (ray_s, ray_p) = results["local"], results["ray"]
        record[name] = {"rows": len(rest), "local_seconds": local_s, "ray_seconds": ray_s,
                        "speedup": local_s / ray_s, "max_abs_difference": float(np.abs(local_p - ray_p).max()),
                        "same_argmax": bool((local_p.argmax(1) == ray_p.argmax(1)).all())}
    return record


def task_accuracy(params):
    return task_round(params)


def task_cache_1m(params):
    """Write ``rows`` synthetic float32 rows (dim 1280) into an EmbeddingCache, then read random rows back."""
    import hashlib

    from autoal.vision.cache import EmbeddingCache

    folder = Path(params["work"]) / "cache_1m"
    shutil.rmtree(folder, ignore_errors=True)
    rows, dim, chunk = params["rows"], 1280, 50_000
    cache = EmbeddingCache(folder, "synthetic-1m", dim, chunk_rows=chunk)
    rng = np.random.default_rng(0)
    keys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(rows)]
    t = time.perf_counter()
    for start in range(0, rows, chunk):
        cache.put_many(keys[start:start + chunk], rng.random((min(chunk, rows - start), dim), dtype=np.float32))
    write_seconds = time.perf_counter() - t
    rss_after_write = peak_rss_mb()
    reopened = EmbeddingCache(folder, "synthetic-1m", dim, chunk_rows=chunk)
    sample = [keys[i] for i in rng.choice(rows, size=10_000, replace=False)]
    t = time.perf_counter()
    vectors, missing = reopened.get_many(sample)
    read_seconds = time.perf_counter() - t
    after_read = rss_parts_mb()
    size_gb = sum(f.stat().st_size for f in folder.iterdir()) / 1e9
    shutil.rmtree(folder, ignore_errors=True)
    return {"rows": rows, "dim": dim, "disk_gb": size_gb, "write_seconds": write_seconds,
            "read_10k_random_seconds": read_seconds, "missing": int(np.sum(missing)),
            "peak_rss_mb_after_write": rss_after_write, "vectors_gb_if_in_ram": rows * dim * 4 / 1e9,
            **{f"after_read_{k}": v for k, v in after_read.items()}}


TASKS = {"embed_pass": task_embed_pass, "throughput": task_throughput, "round": task_round, "ray": task_ray,
         "accuracy": task_accuracy, "cache_1m": task_cache_1m}


def run_task(name, params):
    """Run one measurement in a fresh subprocess; its record with peak memory and wall time."""
    command = [sys.executable, __file__, "--out", "-", "--task", name, "--params", json.dumps(params)]
    t = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"measurement {name} {params} failed (exit {done.returncode})")
    record = json.loads(done.stdout.strip().splitlines()[-1])
    record["subprocess_wall_seconds"] = time.perf_counter() - t
    return record


# ----- orchestration ----------------------------------------------------------------------------------

def plan(args):
    """The measurements, in order: (kind, key, params)."""
    cache_dir = str(args.out / "embedding_cache")
    work = str(args.out / "work")
    sizes = [int(s) for s in args.pool_sizes.split(",")]
    learners = [s for s in args.learners.split(",") if s]
    unknown = [s for s in learners if s not in LEARNERS]
    if unknown:
        raise SystemExit(f"unknown learners {unknown}; choose from {list(LEARNERS)}")
    base = {"holdout": args.holdout, "batch_size": args.batch_size, "cache_dir": cache_dir, "work": work}
    steps = [("embed_pass", "embed_pass", {"pool": max(sizes), **base}),
             ("throughput", "throughput", {"images": args.throughput_images, **base,
                                           "cache_dir": str(args.out / "work" / "throughput_cache")})]
    for size in sizes:
        for learner in learners:
            if "subsample" in learner and size <= 10000:
                continue  # subsampling matters for the largest pools only
            steps.append(("round", f"round/{learner}/{size}", {"learner": learner, "pool": size, "labels": args.labels, **base}))
    for labels in (int(n) for n in args.accuracy_labels.split(",")):
        for learner in args.accuracy_learners.split(","):
            steps.append(("accuracy", f"accuracy/{learner}/{labels}", {"learner": learner, "pool": args.accuracy_pool,
                                                                     "labels": labels, **base}))
            for seed in (int(s) for s in args.accuracy_seeds.split(",") if s):
                steps.append(("accuracy", f"accuracy/{learner}/{labels}/seed{seed}",
                              {"learner": learner, "pool": args.accuracy_pool, "labels": labels, "label_seed": seed,
                               **base}))
    steps.append(("ray", "ray", {"pool": args.ray_pool, "labels": args.labels, "learners": ["embeddings", "autogluon"], **base}))
    steps.append(("cache_1m", "cache_1m", {"rows": args.cache_rows, **base}))
    if args.only:
        kinds = set(args.only.split(","))
        steps = [s for s in steps if s[0] in kinds]
    return steps


def main(argv=None):
    args = parse_args(argv)
    if args.task:
        os.environ.setdefault("TQDM_DISABLE", "1")
        record = TASKS[args.task](json.loads(args.params))
        record["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(record, default=float))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.jsonl"
    done = {}
    if results_path.exists():
        done = {r["key"]: r for r in (json.loads(line) for line in results_path.read_text().splitlines() if line.strip())}
    for kind, key, params in plan(args):
        if key in done:
            print(f"{key}: already measured, skipped", flush=True)
            continue
        record = {"kind": kind, "key": key, "params": params, "date": time.strftime("%Y-%m-%d"), **run_task(kind, params)}
        with open(results_path, "a") as handle:
            handle.write(json.dumps(record, default=float) + "\n")
        done[key] = record
        print(f"{key}: {brief(record)}", flush=True)
    shutil.rmtree(args.out / "work", ignore_errors=True)
    write_summary(list(done.values()), args)


def markdown(frame: pd.DataFrame) -> str:
    """A GitHub markdown table of ``frame`` (numbers as shown by pandas)."""
    cells = frame.astype(object).where(frame.notna(), "").astype(str)
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in cells.itertuples(index=False)]
    return "\n".join(lines)


def brief(record) -> str:
    keys = ("round_seconds", "accuracy", "images_per_second", "throughput_ratio", "write_seconds", "peak_rss_mb")
    return ", ".join(f"{k} {record[k]:.3f}" for k in keys if isinstance(record.get(k), (int, float)))


def write_summary(records, args):
    from autoal.results.reporting import package_versions

    by_key = {r["key"]: r for r in records}
    lines = [f"# Round speed ({time.strftime('%Y-%m-%d')}; `python benchmarks/round_speed.py --out {args.out}`)", ""]
    rounds = pd.DataFrame([{"learner": r["params"]["learner"], "pool": r["params"]["pool"], **{
        k: r[k] for k in ("fit_seconds", "predict_seconds", "score_seconds", "select_seconds", "round_seconds",
                          "accuracy", "peak_rss_mb")}} for r in records if r["kind"] == "round"])
    slopes = {}
    if not rounds.empty:
        for learner, group in rounds.groupby("learner"):
            if group["pool"].nunique() > 1:
                slopes[learner] = float(np.polyfit(group["pool"] / 1000, group["round_seconds"], 1)[0])
        rounds["slope_s_per_1k"] = rounds["learner"].map(slopes)
        lines += ["## One round (fit + pool prediction + scoring + selection)", "", markdown(rounds.round(3)), ""]
        ratios = []
        for pool in sorted(rounds["pool"].unique()):
            at = rounds[rounds["pool"] == pool].set_index("learner")
            if {"embeddings", "autogluon"} <= set(at.index):
                ratios.append({"pool": pool, "autogluon_over_embeddings_round_time":
                               at.loc["autogluon", "round_seconds"] / at.loc["embeddings", "round_seconds"]})
        if ratios:
            lines += ["## Fine-tune round time over embeddings round time", "", markdown(pd.DataFrame(ratios).round(1)), ""]
    accuracy = pd.DataFrame([{"learner": r["params"]["learner"], "labels": r["labels"],
                              "given": "first" if r["params"].get("label_seed") is None else f"seed {r['params']['label_seed']}",
                              "accuracy_before": r["accuracy_round0"], "accuracy": r["accuracy"],
                              "fit_seconds": r["fit_seconds"], "round_seconds": r["round_seconds"]}
                             for r in records if r["kind"] == "accuracy"])
    if not accuracy.empty:
        lines += ["## Holdout accuracy at the same label counts", "", markdown(accuracy.round(3)), ""]
    for key in ("embed_pass", "throughput", "ray", "cache_1m"):
        if key in by_key:
            shown = {k: v for k, v in by_key[key].items() if k not in ("params", "kind", "key")}
            lines += [f"## {key}", "", "```", json.dumps(shown, indent=1, default=float), "```", ""]
    (args.out / "summary.md").write_text("\n".join(lines))
    summary = {"date": time.strftime("%Y-%m-%d"), "command": f"python benchmarks/round_speed.py --out {args.out}",
               "versions": package_versions(), "slopes_s_per_1k_images": slopes, "records": records}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1, default=float))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
