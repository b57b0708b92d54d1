"""Predictions of a run's saved model: for a manifest, a folder of images, or the run's own unlabelled pool.

``autoal predict RUN_DIR NEW.csv|FOLDER`` and ``autoal predict RUN_DIR --pool`` (:func:`predict_images`,
:func:`predict_pool`) load the model with :func:`autoal.results.model.load_model` and write one row per image:
``example, predicted_label, confidence`` and one ``p_<class>`` column per class (the pool's rows also carry their
image path). The report says how many predictions reach a confidence the user picks: the "label the rest"
step of a run, where confident predictions can be taken as labels and the rest checked by people.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from autoal.common.checks import PROBABILITY, check_option
from autoal.common.files import write_csv_atomic
from autoal.common.wording import plural
from autoal.errors import InputError

__all__ = ["images_frame", "predict_images", "predict_pool", "PredictionReport"]


@dataclass
class PredictionReport:
    """What a prediction wrote: the CSV, its rows, how many reach ``threshold`` confidence, and per class."""

    path: Path
    n: int
    threshold: float
    n_confident: int
    by_class: dict
    model: str

    def message(self) -> str:
        share = f" ({self.n_confident / self.n:.0%})" if self.n else ""
        classes = ", ".join(f"{c}: {k}" for c, k in self.by_class.items()) or "none"
        return (f"wrote {self.path}: {plural(self.n, 'prediction')} by {self.model}; "
                f"{self.n_confident}{share} with confidence >= {self.threshold:g} ({classes})")


def images_frame(source, image_col="image_path") -> tuple:
    """The images of ``source`` as a frame to predict, and what each row is called.

    Parameters
    ----------
    source : path-like
        A manifest CSV (an ``image_col`` column of paths relative to the CSV's folder; other columns kept as
        features; a label column is not needed) or a folder (every image file below it, in sorted order).
    image_col : str
        The image column the model reads.

    Returns
    -------
    (DataFrame, list)
        Rows with absolute paths in ``image_col``; the ``example`` of each row: the path as the manifest gives it,
        or relative to the folder.
    """
    from autoal.data.manifest_builder import IMAGE_EXTENSIONS

    source = Path(source).expanduser()
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise InputError(f"{str(source)!r} holds no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}); pass a "
                             "folder of images or a manifest CSV")
        return pd.DataFrame({image_col: [str(p.resolve()) for p in files]}), [p.relative_to(source).as_posix() for p in files]
    if not source.is_file():
        raise InputError(f"{str(source)!r} does not exist; pass a manifest CSV or a folder of images")
    try:
        frame = pd.read_csv(source, encoding="utf-8-sig", dtype={image_col: str})
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{str(source)!r} is not a readable UTF-8 CSV ({exc}); pass a manifest CSV or a folder") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    if image_col not in frame.columns:
        raise InputError(f"manifest {str(source)!r} has no {image_col!r} column (columns: {list(frame.columns)}); the "
                         "model reads image paths from it")
    blank = frame[image_col].isna()
    if blank.any():
        raise InputError(f"manifest {str(source)!r} has {int(blank.sum())} rows without an image path (CSV lines "
                         f"{(np.flatnonzero(blank.to_numpy())[:5] + 2).tolist()}); fill them in or remove them")
    examples = frame[image_col].astype(str).str.strip().tolist()
    base = source.resolve().parent
    frame[image_col] = [str((base / p).resolve()) for p in examples]
    return frame, examples


def _report(table: pd.DataFrame, path: Path, threshold: float, model) -> PredictionReport:
    confident = table[table["confidence"] >= threshold]
    counts = confident["predicted_label"].value_counts()
    by_class = {str(c): int(counts.get(c, 0)) for c in model.classes}
    name = f"the {model.info['learner']} model of round {model.info.get('round')} ({model.info.get('n_labeled')} labels)"
    return PredictionReport(path, len(table), threshold, len(confident), by_class, name)


def _check_threshold(threshold) -> float:
    check_option("the confidence threshold", threshold, PROBABILITY, hint="e.g. --min-confidence 0.9")
    return float(threshold)


def _out_path(out, default: Path) -> Path:
    path = Path(out).expanduser() if out is not None else default
    if path.is_dir():
        raise InputError(f"{str(path)!r} is a folder; pass a file name such as {path / 'predictions.csv'}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def predict_images(run_dir, source, *, which="run", out=None, threshold=0.9) -> PredictionReport:
    """Predict the images of a manifest or folder with a run's saved model and write them as CSV.

    Parameters
    ----------
    run_dir : path-like
        The run folder (or a model folder).
    source : path-like
        A manifest CSV or a folder of images (:func:`images_frame`).
    which : {"run", "final"}
        The run's own model, or the final model of ``autoal train``.
    out : path-like, optional
        The CSV to write (default ``RUN_DIR/predictions/<source name>.csv``).
    threshold : float
        The confidence the report counts predictions at or above.
    """
    from autoal.results.model import load_model, model_folder

    threshold = _check_threshold(threshold)
    model = load_model(run_dir, which=which)
    frame, examples = images_frame(source, model.image_col or "image_path")
    table = model.predictions(frame, examples=examples)
    home = model_folder(run_dir, which).parent
    path = _out_path(out, home / "predictions" / f"{Path(source).stem or 'images'}.csv")
    write_csv_atomic(table, path, index=False)
    return _report(table, path, threshold, model)


def predict_pool(run_dir, *, which="run", out=None, threshold=0.9) -> PredictionReport:
    """Predict every example of the run that has no label yet (its own pool) and write them as CSV, most confident
    first: ``example`` (the run's id), the image path, ``predicted_label``, ``confidence``, ``p_<class>``."""
    from autoal.results.export import with_image_paths
    from autoal.results.model import load_model
    from autoal.store.run_state import open_run

    threshold = _check_threshold(threshold)
    model = load_model(run_dir, which=which)
    state = open_run(run_dir)
    try:
        pool = np.flatnonzero(state.snapshot().counts == 0)
        inputs = state.data.frame.drop(columns=[state.label]).iloc[pool]  # in simulation the truth stays hidden
        table = model.predictions(inputs, examples=state.ids_of(pool))
        image_col = state.settings.get("image_col")
        if image_col is not None:
            table = with_image_paths(state, table, pool)
            table = table[["example", image_col] + [c for c in table.columns if c not in ("example", image_col)]]
        table = table.sort_values("confidence", ascending=False, kind="stable")
        path = _out_path(out, Path(run_dir) / "predictions" / "pool.csv")
        write_csv_atomic(table, path, index=False)
    finally:
        state.close()
    return _report(table, path, threshold, model)
