"""Real image datasets that ship inside installed packages, written out as PNG files plus a manifest.

Nothing is downloaded: sklearn's handwritten digits come with scikit-learn.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["default_data_dir", "build_digits"]


def default_data_dir() -> Path:
    """Where built datasets live: ``$AUTOAL_DATA_DIR``, else ``~/.cache/autoal/datasets``."""
    env = os.environ.get("AUTOAL_DATA_DIR")
    return Path(env) if env else Path.home() / ".cache" / "autoal" / "datasets"


def build_digits(data_dir=None, *, scale=4) -> Path:
    """Write sklearn's 1,797 handwritten digits as grayscale PNGs and return the manifest's path.

    Each 8x8 image (16 grey levels) is enlarged ``scale`` times with nearest-neighbour sampling.
    The manifest ``digits/manifest.csv`` has columns ``label,image_path`` with paths relative to
    its folder. A second call finds the files and returns at once.

    Parameters
    ----------
    data_dir : path-like, optional
        Parent folder; :func:`default_data_dir` when omitted.
    scale : int
        Enlargement factor (4 gives 32x32 images).
    """
    import pandas as pd
    from PIL import Image
    from sklearn.datasets import load_digits

    root = Path(data_dir or default_data_dir()) / "digits"
    manifest = root / "manifest.csv"
    digits = load_digits()
    if manifest.exists() and len(pd.read_csv(manifest)) == len(digits.target):
        return manifest
    rows = []
    for i, (image, target) in enumerate(zip(digits.images, digits.target)):
        relative = f"{target}/digit_{i:04d}.png"
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = np.kron((image * (255.0 / 16.0)).round().astype(np.uint8), np.ones((scale, scale), np.uint8))
        Image.fromarray(pixels, mode="L").save(path)
        rows.append({"label": int(target), "image_path": relative})
    tmp = manifest.with_suffix(".csv.tmp")
    pd.DataFrame(rows).to_csv(tmp, index=False)
    tmp.replace(manifest)
    return manifest
