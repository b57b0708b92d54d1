"""``autoal manifest`` (and ``scripts/prepare_manifest.py``): build a manifest from a class-folder tree, or check one."""

from __future__ import annotations

import sys
from pathlib import Path

from autoal.errors import AutoalError, InputError
from autoal.data.manifest_builder import build_manifest
from autoal.data.manifest_check import check_manifest

__all__ = ["add_manifest_arguments", "manifest_command"]


def add_manifest_arguments(parser):
    """Add the arguments of ``autoal manifest`` to an argparse parser (or sub-parser) and return it."""
    parser.add_argument("tree", nargs="?", type=Path, help="folder with one sub-folder per class, e.g. 256_ObjectCategories")
    parser.add_argument("--out", type=Path, metavar="MANIFEST.csv", help="manifest CSV to write; image paths relative to its folder")
    parser.add_argument("--sha256", action="store_true", help="add a sha256 column and report identical files")
    parser.add_argument("--test-fraction", type=float, metavar="F", help="add a split column: seeded stratified train/test split")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    parser.add_argument("--drop-class", dest="drop_classes", action="append", metavar="NAME",
                        help="leave out this class folder (repeatable), e.g. 257.clutter or BACKGROUND_Google")
    parser.add_argument("--keep-class", dest="keep_classes", action="append", metavar="NAME",
                        help="keep only these class folders (repeatable)")
    parser.add_argument("--allow-outside", action="store_true",
                        help="follow symbolic links leaving the tree; allow image paths outside the manifest's folder")
    parser.add_argument("--check", type=Path, metavar="MANIFEST.csv",
                        help="instead of building: check a manifest's files (missing, changed, unreadable)")
    return parser


def manifest_command(args) -> int:
    """Run ``autoal manifest`` with parsed arguments; print the report and return the exit status.

    0 on success, 1 when ``--check`` finds problems, 2 on a user error (printed as ``autoal: error: ...``).
    """
    try:
        return _check_command(args) if args.check else _build_command(args)
    except AutoalError as exc:
        print(f"autoal: error: {exc}", file=sys.stderr)
        return 2


def _check_command(args) -> int:
    if args.tree or args.out:
        raise InputError("pass either TREE --out MANIFEST.csv to build a manifest, or --check MANIFEST.csv to check one, not both")
    report = check_manifest(args.check, allow_outside=args.allow_outside)
    print(report.message())
    return 0 if report.ok else 1


def _build_command(args) -> int:
    if args.tree is None or args.out is None:
        raise InputError("autoal manifest needs TREE and --out MANIFEST.csv, e.g. "
                         "`autoal manifest ~/data/256_ObjectCategories --out ~/data/caltech256.csv` (or --check MANIFEST.csv)")
    report = build_manifest(
        args.tree, args.out, sha256=args.sha256, test_fraction=args.test_fraction, seed=args.seed,
        keep_classes=args.keep_classes, drop_classes=args.drop_classes, allow_outside=args.allow_outside,
    )
    print(report.message())
    return 0
