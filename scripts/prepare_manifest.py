#!/usr/bin/env python
"""Build a manifest CSV from a folder-per-class image tree, or check one: the same as ``autoal manifest``.

    python scripts/prepare_manifest.py ~/data/256_ObjectCategories --out ~/data/caltech256.csv \\
        --sha256 --test-fraction 0.2 --seed 0 --drop-class 257.clutter
    python scripts/prepare_manifest.py --check ~/data/caltech256.csv

Exit status: 0 on success, 1 when --check finds problems, 2 on a user error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    from autoal.cli.manifest import add_manifest_arguments, manifest_command
except ImportError:  # run from a checkout where autoal is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from autoal.cli.manifest import add_manifest_arguments, manifest_command


def main(argv=None) -> int:
    """Parse ``argv`` (default: the command line) and build or check a manifest; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="prepare_manifest.py",
        description="Build a manifest CSV (label,image_path) from a folder-per-class image tree, or check one.",
    )
    add_manifest_arguments(parser)
    return manifest_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
