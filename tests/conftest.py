"""Shared fixtures: tiny real image datasets written to PNG, and a learner with fixed probabilities."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from autoal.learners import Learner, pad_probabilities

def load_file_module(path):
    """Import the Python file ``path`` (a script of ``benchmarks/`` or ``scripts/``, not packages) as a module named
    after its stem."""
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220), "grey": (128, 128, 128)}


def write_images(folder, n_per_class, classes=("red", "green", "blue"), size=16, seed=0) -> pd.DataFrame:
    """Write noisy solid-colour PNGs, one class per colour; return a DataFrame with label,image_path."""
    rng = np.random.default_rng(seed)
    rows = []
    for cls in classes:
        (folder / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            pixels = np.clip(np.array(COLOURS[cls]) + rng.normal(0, 40, (size, size, 3)), 0, 255).astype(np.uint8)
            path = folder / cls / f"{cls}_{i:03d}.png"
            Image.fromarray(pixels).save(path)
            rows.append({"label": cls, "image_path": str(path)})
    return pd.DataFrame(rows)


def stored_labels(run_dir) -> pd.DataFrame:
    """Every annotation in a run's store, read with plain sqlite3 from its ``labels`` view (ids decoded,
    labels as class names), independently of autoal's own readers."""
    with sqlite3.connect(f"file:{run_dir / 'run.sqlite'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT example_id, annotator, label, round FROM labels").fetchall()
    return pd.DataFrame([(json.loads(e), a, lab, r) for e, a, lab, r in rows],
                        columns=["example_id", "annotator", "label", "round"])


@pytest.fixture(autouse=True, scope="session")
def autoal_cache_home(tmp_path_factory):
    """``AUTOAL_CACHE_DIR`` for the whole session: converted backbones (and their safetensors copies) are written
    under pytest's base temporary folder, not into the developer's ``~/.cache/autoal``. A test may point it
    elsewhere (monkeypatch.setenv)."""
    import os

    folder = tmp_path_factory.getbasetemp() / "autoal_cache"
    saved = os.environ.get("AUTOAL_CACHE_DIR")
    os.environ["AUTOAL_CACHE_DIR"] = str(folder)
    yield folder
    if saved is None:
        os.environ.pop("AUTOAL_CACHE_DIR", None)
    else:
        os.environ["AUTOAL_CACHE_DIR"] = saved


@pytest.fixture(autouse=True)
def embedding_cache(tmp_path_factory, monkeypatch):
    """Every test embeds into a fresh embedding cache of its own (``AUTOAL_EMBEDDING_CACHE``, inherited by the
    processes it starts): no test reads the developer's shared cache (``~/.cache/autoal/embeddings``), writes to
    it, or sees another test's embeddings of the same images. Returns the folder."""
    folder = tmp_path_factory.mktemp("embedding-cache")
    monkeypatch.setenv("AUTOAL_EMBEDDING_CACHE", str(folder))
    return folder


@pytest.fixture
def images(tmp_path):
    """60 images: 20 per class of red, green, blue."""
    return write_images(tmp_path / "images", 20)


class FixedLearner(Learner):
    """Predicts fixed probabilities looked up by example id (rows of ``probs``), for loop tests."""

    def __init__(self, probs: dict, default=None):
        self.probs = probs
        self.default = default
        self.fitted_on: list[list] = []

    def fit(self, df):
        self.fitted_on.append(list(df.index))
        self.train_labels_ = dict(zip(df.index, df[self.label]))
        return self

    def predict_proba(self, df):
        k = len(self.classes)
        rows = [self.probs.get(i, self.default if self.default is not None else np.full(k, 1.0 / k)) for i in df.index]
        return pad_probabilities(np.array(rows, dtype=float), self.classes, self.classes)


class TruthLearner(Learner):
    """Predicts the true class of each image from its file name with confidence ``p`` (colour datasets)."""

    def __init__(self, p=0.9):
        self.p = p

    def fit(self, df):
        self.n_fit_ = len(df)
        return self

    def predict_proba(self, df):
        k = len(self.classes)
        out = np.full((len(df), k), (1 - self.p) / (k - 1))
        for row, path in enumerate(df[self.image_col]):
            cls = next(c for c in self.classes if f"/{c}_" in path)
            out[row, self.classes.index(cls)] = self.p
        return out


class ColourFeatureLearner(TruthLearner):
    """TruthLearner whose ``embeddings`` are each image's mean RGB colour (for diversity rules)."""

    def embeddings(self, df):
        self.feature_calls_ = getattr(self, "feature_calls_", 0) + 1
        return np.array([np.asarray(Image.open(p).convert("RGB"), dtype=float).mean(axis=(0, 1))
                         for p in df[self.image_col]])


# -- in CI every dependency is installed: a skipped test there hides a broken install ------------------


class PlatformSkip(pytest.skip.Exception):
    """A skip about the machine (its file system, its OS), not a missing package: it stays a skip in CI."""


def skip_for_platform(reason):
    """Skip the running test because this machine cannot run it; unlike any other skip, allowed in CI.

    Parameters
    ----------
    reason : str
        What the platform lacks, shown in pytest's skip summary.
    """
    __tracebackhide__ = True  # report the test's line, not this one
    raise PlatformSkip(reason)


def in_ci() -> bool:
    """Whether the ``CI`` environment variable is set (to anything but empty, ``0`` or ``false``)."""
    import os

    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


def _fail_skip_in_ci(report, excinfo) -> None:
    if not in_ci() or not report.skipped or hasattr(report, "wasxfail"):
        return
    if excinfo is not None and excinfo.errisinstance(PlatformSkip):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = (
        f"{reason}\nthis skip fails because CI is set: every dependency is installed there, so a skip hides a "
        "broken install; install what it names (make test: scripts/setup.sh, then scripts/setup_test_tools.sh), or, "
        "when the machine itself cannot run the test, skip with conftest.skip_for_platform(reason)"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With ``CI`` set, a test skipped by ``importorskip``, ``skipif`` or ``pytest.skip`` fails instead."""
    report = (yield).get_result()
    _fail_skip_in_ci(report, call.excinfo)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """With ``CI`` set, a module skipped while collected (a module-level ``importorskip``) fails instead."""
    report = (yield).get_result()
    _fail_skip_in_ci(report, None)
