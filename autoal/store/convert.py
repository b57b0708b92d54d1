"""Converting a run folder written before the run store (schema 1: examples pickled in ``data.pkl``).

Nothing pickled is read. The examples are prepared again from the DataFrame the run started from, with
the settings saved in ``settings.json`` (the same seed gives the same holdout and initial set), and
checked against the old label store ``labels.sqlite``, a plain SQLite file: every annotation, who was
asked what, and each finished round of ``history.csv`` move into a new ``run.sqlite``. The old files
go to ``RUN_DIR/old-format/`` untouched. What lived only in pickles is not carried over: pick-time
probabilities (the examples concerned get cross-validated ones when needed) and the stop set's last
predictions (the stopping rule's kappa starts again).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

from autoal.data.prepare import prepare_data
from autoal.errors import InputError, first_few
from autoal.store.run_state import GIVEN, RunState, store_in_the_way
from autoal.store.run_store import STORE_FILE

__all__ = ["convert_run"]

OLD_STORE = "labels.sqlite"
MOVED = ("data.pkl", "pick_probs.pkl", "stop_predictions.pkl", "settings.json", "history.csv", "summary.json",
         OLD_STORE, f"{OLD_STORE}-wal", f"{OLD_STORE}-shm")


def convert_run(run_dir, df, *, test_df=None) -> Path:
    """Turn an old-format run folder into one with a run store, without unpickling anything.

    Parameters
    ----------
    run_dir : path-like
        The old run's folder (``settings.json``, ``labels.sqlite``, ``data.pkl``).
    df, test_df : DataFrame
        The data the run was started with (as given to :func:`autoal.run`; CLI: the manifests).

    Returns
    -------
    Path
        ``run_dir``, now resumable with :func:`autoal.resume`.

    Raises
    ------
    InputError
        When the folder is not an old-format run, or ``df`` is not the data its labels belong to.
    """
    folder = Path(run_dir).expanduser()
    settings = _old_settings(folder)
    annotations, assignments = _old_labels(folder / OLD_STORE)
    data = prepare_data(
        df, test_df=test_df, label=settings["label"], image_col=settings["image_col"], id_col=settings.get("id_col"),
        initial_per_class=settings["initial_per_class"], holdout_fraction=settings["holdout_fraction"],
        classes=settings.get("classes"), drop_bad_images=settings.get("drop_bad_images", False),
        rng=np.random.default_rng(settings["random_state"]), allow_unlabelled=settings.get("initial") != "random")
    _check_same_data(data, annotations, settings)
    history = pd.read_csv(folder / "history.csv") if (folder / "history.csv").exists() else pd.DataFrame()
    _move_old_files(folder)
    settings.setdefault("check_images", "auto")
    state = RunState.create(folder, data, settings, given_labels=False)
    _copy_labels(state, annotations, assignments)
    _copy_history(state, history, annotations)
    state.close()
    return folder


def _old_settings(folder: Path) -> dict:
    refusal = store_in_the_way(folder, run_there=f"{str(folder)!r} already has a run store ({STORE_FILE}); resume "
                               "it with `autoal resume`")
    if refusal:  # None for an empty run.sqlite: the converted store replaces it
        raise InputError(refusal)
    if not (folder / "settings.json").is_file() or not (folder / OLD_STORE).is_file():
        raise InputError(f"{str(folder)!r} is not an old-format autoal run folder (no settings.json and labels.sqlite)")
    try:
        return json.loads((folder / "settings.json").read_text())
    except ValueError as exc:
        raise InputError(f"{str(folder / 'settings.json')!r} is not valid JSON ({exc}); the folder cannot be converted") from exc


def _old_labels(path: Path) -> tuple:
    """The old store's annotations and assignments, read with plain SQL (ids and labels were JSON text)."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            version = dict(db.execute("SELECT key, value FROM meta")).get("schema_version")
            annotations = db.execute("SELECT example_id, annotator, label, round, timestamp FROM annotations ORDER BY seq").fetchall()
            assignments = db.execute("SELECT round, example_id, annotator FROM assignments ORDER BY rowid").fetchall()
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{str(path)!r} is not an autoal label store ({exc}); the folder cannot be converted") from exc
    if version != "1":
        raise InputError(f"{str(path)!r} has label-store schema {version!r}, not 1; only folders of schema 1 convert")
    annotations = [(json.loads(e), a, json.loads(lab), r, t) for e, a, lab, r, t in annotations]
    assignments = [(r, json.loads(e), a) for r, e, a in assignments]
    return annotations, assignments


def _check_same_data(data, annotations, settings) -> None:
    pool = set(data.frame.index)
    unknown = [e for e, *_ in annotations if e not in pool]
    if unknown:
        raise InputError(f"the run's labels name examples that the data given is missing from its pool "
                         f"({first_few(unknown)}); pass the DataFrame (or manifests) the run was started with")
    bad = [c for _, _, c, _, _ in annotations if c not in data.classes]
    if bad:
        raise InputError(f"the run's labels use classes the data given does not have ({first_few(bad)}); pass the "
                         "data the run was started with")
    initial = set(data.initial_ids)
    if data.simulation and settings.get("initial") == "random":
        first = {e for e, _, _, r, _ in annotations if r == 0}
        if first != initial:
            raise InputError("the initial set prepared from the data given differs from the run's round 0: pass the "
                             "data the run was started with, rows in the same order")
    given = {e: c for e, a, c, _, _ in annotations if a == GIVEN}
    if not data.simulation and any(data.frame.at[e, settings["label"]] != c for e, c in given.items()):
        raise InputError("the labels in the data given differ from those the run started with; pass the original data")


def _move_old_files(folder: Path) -> None:
    target = folder / "old-format"
    target.mkdir(exist_ok=True)
    for name in MOVED:
        if (folder / name).exists():
            shutil.move(str(folder / name), str(target / name))


def _copy_labels(state, annotations, assignments) -> None:
    position = state.positions([e for e, *_ in annotations]) if annotations else []
    state.store.add_many([(p, a, state.class_index[c], r, t)
                          for p, (_, a, c, r, t) in zip(position, annotations)])
    positions = state.positions([e for _, e, _ in assignments]) if assignments else []
    by_round: dict = {}
    for (r, _, a), p in zip(assignments, positions):
        by_round.setdefault(r, []).append((int(p), a))
    for r, pairs in by_round.items():
        state.assign(r, pairs)


def _copy_history(state, history: pd.DataFrame, annotations) -> None:
    rounds = np.array([r for *_, r, _ in annotations], dtype=np.int64)
    for row in history.to_dict(orient="records"):
        row["picked_ids"] = json.loads(row["picked_ids"]) if isinstance(row.get("picked_ids"), str) else []
        row["watermark"] = int(np.flatnonzero(rounds <= row["round"]).max() + 1) if (rounds <= row["round"]).any() else 0
        state.store.record_round(int(row["round"]), row)
