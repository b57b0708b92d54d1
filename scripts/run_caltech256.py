"""The published Caltech-256 active-learning protocol, on Caltech-256 or any manifest.

Seeded stratified train/test split, 8 labelled images per class to start, 150 new labels per round,
10 rounds, AutoGluon MultiModal, ActiveLab; every number is a flag.

    python scripts/run_caltech256.py --root ~/data/256_ObjectCategories --out runs/caltech256
    python scripts/run_caltech256.py --manifest my_data.csv --out runs/mine

Run it again with the same --out after an interruption and it resumes where it stopped.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HOW_TO_GET_IT = """Caltech-256 was not found. It cannot be downloaded by autoal; get it yourself:
  1. Download 256_ObjectCategories.tar from the Caltech data repository
     (dataset "Caltech 256", Griffin, Holub and Perona, 2007).
  2. Unpack it: tar -xf 256_ObjectCategories.tar -C ~/data
     (you get ~/data/256_ObjectCategories/001.ak47/001_0001.jpg ... 257.clutter/...).
  3. Run: python scripts/run_caltech256.py --root ~/data/256_ObjectCategories --out runs/caltech256
Or point --manifest at a manifest CSV (label,image_path) of any other folder-per-class dataset."""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, help="the unpacked 256_ObjectCategories folder "
                   "(default: $CALTECH256_DIR, ~/data/256_ObjectCategories or ./256_ObjectCategories)")
    p.add_argument("--manifest", type=Path, help="use this manifest instead of Caltech-256")
    p.add_argument("--out", type=Path, default=Path("runs/caltech256"))
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init-per-class", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=150)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--strategy", default="activelab")
    p.add_argument("--learner", default="autogluon")
    p.add_argument("--keep-clutter", action="store_true", help="keep 257.clutter as a class (dropped by default)")
    p.add_argument("--time-limit", type=float, help="AutoGluon seconds per round's fit")
    p.add_argument("--max-epochs", type=int)
    p.add_argument("--image-size", type=int, help="image side in pixels (AutoGluon default 128; embeddings: 224 "
                   "for photos at least that large, else 128)")
    p.add_argument("--checkpoint", help="local timm checkpoint folder or weights file")
    return p.parse_args(argv)


def find_root(args):
    candidates = [args.root] if args.root else [
        Path(os.environ["CALTECH256_DIR"]) if os.environ.get("CALTECH256_DIR") else None,
        Path.home() / "data" / "256_ObjectCategories", Path("256_ObjectCategories")]
    return next((c for c in candidates if c is not None and c.is_dir()), None)


def prepare_manifest(args) -> Path:
    """The manifest to use: --manifest, or one built (once) from the Caltech-256 folder into --out."""
    if args.manifest:
        return args.manifest
    root = find_root(args)
    if root is None:
        where = f" at {args.root}" if args.root else ""
        raise SystemExit(f"{HOW_TO_GET_IT.splitlines()[0]}{where}\n" + "\n".join(HOW_TO_GET_IT.splitlines()[1:]))
    from autoal.data.manifest_builder import build_manifest

    manifest = args.out.parent / f"{args.out.name}-manifest.csv"
    if not manifest.exists():
        manifest.parent.mkdir(parents=True, exist_ok=True)
        report = build_manifest(root, manifest, test_fraction=args.test_fraction, seed=args.seed,
                                drop_classes=None if args.keep_clutter else ["257.clutter"], allow_outside=True)
        print(report.message())
    return manifest


def learner_options(args, autogluon_options):
    """The options ``--learner`` takes: all of them for AutoGluon, the image size for the embeddings learner."""
    if args.learner == "autogluon":
        return autogluon_options
    if args.learner == "embeddings" and args.image_size:
        return {"image_size": args.image_size}
    return None


def main(argv=None) -> int:
    import autoal
    from autoal.errors import AutoalError

    args = parse_args(argv)
    try:
        if (args.out / "settings.json").exists():
            print(f"{args.out} holds an interrupted run: resuming it")
            result = autoal.resume(args.out)
        else:
            manifest = prepare_manifest(args)
            has_split = "split" in open(manifest, encoding="utf-8-sig").readline()
            df = autoal.load_manifest(manifest, split="train" if has_split else None)
            test_df = autoal.load_manifest(manifest, split="test") if has_split else None
            options = {k: v for k, v in {"time_limit": args.time_limit, "max_epochs": args.max_epochs,
                                         "image_size": args.image_size, "checkpoint": args.checkpoint}.items() if v}
            result = autoal.run(df, test_df=test_df, strategy=args.strategy, learner=args.learner,
                                learner_options=learner_options(args, options),
                                batch_size=args.batch_size, n_rounds=args.rounds,
                                initial_per_class=args.init_per_class, holdout_fraction=args.test_fraction,
                                random_state=args.seed, output_dir=args.out)
    except AutoalError as exc:
        print(f"autoal: error: {exc}", file=sys.stderr)
        return 2
    print(result.history[["round", "n_labeled", "accuracy", "round_seconds"]].to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
