"""Validation of the user's data and the split into labelled set, pool and holdout.

Everything here runs before any training, so that a mistake in the data costs seconds, not a round: the columns and
the ids are checked here, the labels made plain (:mod:`autoal.data.labels`) and the image files checked
(:mod:`autoal.data.image_files`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from autoal.data.image_files import drop_or_raise_bad_images, path_text
from autoal.data.labels import normalize_labels
from autoal.errors import InputError, first_few

__all__ = ["PreparedData", "check_columns", "stratified_holdout", "prepare_data"]


@dataclass
class PreparedData:
    """The validated inputs of a run.

    Attributes
    ----------
    frame : DataFrame
        The examples that can be labelled (labelled set + pool), indexed by their stable ids; labels
        of the pool are NaN in real mode and the hidden truth in simulation mode.
    test : DataFrame
        The holdout, indexed by id.
    classes : list
        The run's fixed class list; ``pred_probs`` columns follow this order.
    initial_ids : list
        Ids labelled before round 1.
    simulation : bool
        True when ``frame`` came fully labelled and autoal hides the pool's labels.
    holdout : str
        Where the holdout came from, in words.
    dropped : list of (path, reason)
        Rows dropped because their image could not be read (only with ``drop_bad_images``).
    """

    frame: pd.DataFrame
    test: pd.DataFrame
    classes: list
    initial_ids: list
    simulation: bool
    holdout: str
    dropped: list = field(default_factory=list)


def check_columns(df, label, image_col, what="df"):
    """Raise InputError unless ``df`` is a non-empty DataFrame with the label and image columns
    (``image_col=None``: a table without images)."""
    if not isinstance(df, pd.DataFrame):
        needed = f"columns {label!r} and {image_col!r}" if image_col is not None else f"a {label!r} column"
        raise InputError(f"{what} must be a pandas DataFrame with {needed}, got {type(df).__name__}")
    if image_col is not None and not isinstance(image_col, str):
        raise InputError(f"image_col must be a column name or None (a table without images), got {image_col!r}")
    for column, argument in ((label, "label"), (image_col, "image_col")):
        if column is None:
            continue
        if column not in df.columns:
            fix = " (for a table without images pass image_col=None)" if argument == "image_col" else ""
            raise InputError(
                f"{what} has no column {column!r} (columns: {first_few(df.columns, 10)}); "
                f"rename yours or pass {argument}='<your column>'{fix}"
            )
    if len(df) == 0:
        raise InputError(f"{what} is empty: it needs at least one row per class")


def _index_by_id(df, id_col, what):
    if id_col is not None:
        if id_col not in df.columns:
            raise InputError(f"{what} has no id column {id_col!r}; pass id_col=None to use the DataFrame index")
        df = df.set_index(id_col, drop=True)
    if df.index.hasnans:
        raise InputError(f"{what} has missing ids; give every row an id (or pass id_col=None to use the index)")
    duplicated = df.index[df.index.duplicated()].unique()
    if len(duplicated):
        raise InputError(
            f"{what} has {len(duplicated)} duplicate ids ({first_few(duplicated)}); ids must be unique: "
            "de-duplicate the rows, or use df.reset_index(drop=True) for fresh ids"
        )
    _refuse_ids_equal_as_text(df.index, what)
    return df


def _refuse_ids_equal_as_text(index, what) -> None:
    """InputError for ids that differ but read the same as text (``1`` and ``'1'``): files, links and the
    labelling page name examples by their text, so such ids would be confused."""
    if pd.api.types.is_integer_dtype(index.dtype) or pd.api.types.infer_dtype(index, skipna=True) == "string":
        return  # one type: distinct values have distinct texts
    text = pd.Index([str(i) for i in index])
    clash = text.duplicated(keep=False)
    if clash.any():
        first = text[clash][0]
        same = [i for i, t in zip(index[clash], text[clash]) if t == first]
        raise InputError(
            f"{what} has {int(clash.sum())} ids that are equal once written as text "
            f"({' and '.join(repr(i) for i in same)}); files, links and the labelling page name examples by their "
            "text, so give every example an id of one type, e.g. df.index = df.index.astype(str)"
        )


def stratified_holdout(labels: pd.Series, fraction, rng) -> list:
    """Ids of a seeded per-class holdout: ``round(fraction * n)`` per class, at least 1, leaving at least 1.

    Raises InputError for a class with fewer than 2 labelled examples.
    """
    counts = labels.value_counts()
    too_few = counts[counts < 2]
    if len(too_few):
        raise InputError(
            f"classes with fewer than 2 labelled examples cannot be split into training and holdout: "
            f"{first_few(too_few.index)}; label more examples of them or pass test_df"
        )
    held = []
    for cls in sorted(counts.index, key=str):
        ids = labels.index[labels == cls].to_numpy()
        n_test = min(max(1, int(round(fraction * len(ids)))), len(ids) - 1)
        held.extend(rng.choice(ids, size=n_test, replace=False).tolist())
    return held


def prepare_data(
    df, *, test_df, label, image_col, id_col, initial_per_class, holdout_fraction, classes, drop_bad_images, rng,
    allow_unlabelled=False, check_images="auto", simulate=None,
) -> PreparedData:
    """Validate ``df`` (and ``test_df``) and split them into labelled set, pool and holdout.

    Simulation mode when every row of ``df`` has a label: all but ``initial_per_class`` labels per
    class are hidden. Real mode otherwise: labelled rows start the run and NaN rows form the pool.
    ``holdout_fraction=0`` without ``test_df`` keeps no holdout. ``allow_unlabelled`` accepts a df
    with no label at all (a cold start), which then needs ``classes``. ``check_images`` says which
    images are decoded before the run (:func:`autoal.data.image_files.find_bad_images`); every file must exist.
    ``simulate`` forces the mode: False treats a fully labelled ``df`` as real labels to check (relabel-only).
    """
    check_columns(df, label, image_col, "df")
    df = _index_by_id(df.copy(), id_col, "df")
    df[label] = normalize_labels(df[label], "df")
    if image_col is not None:
        df[image_col] = path_text(df[image_col])
    if test_df is not None:
        check_columns(test_df, label, image_col, "test_df")
        test_df = _index_by_id(test_df.copy(), id_col, "test_df")
        test_df[label] = normalize_labels(test_df[label], "test_df")
        if image_col is not None:
            test_df[image_col] = path_text(test_df[image_col])
        if test_df[label].isna().any():
            raise InputError(f"test_df has {int(test_df[label].isna().sum())} rows without a label; a holdout must be fully labelled")
    frames, dropped = [df] + ([test_df] if test_df is not None else []), []
    if image_col is not None:
        frames, dropped = drop_or_raise_bad_images(frames, image_col, drop_bad_images, check_images)
    df = frames[0]
    test_df = frames[1] if test_df is not None else None

    labelled = df[label].dropna()
    if labelled.empty and not (allow_unlabelled and classes is not None):
        fix = ("pass classes=[...] to start from no labels with initial='kmeans'" if allow_unlabelled
               else "label at least 2 examples of each class to start, or pass initial='kmeans' and classes=[...]")
        raise InputError(f"df has no labelled rows; {fix}")
    simulation = len(labelled) == len(df) if simulate is None else bool(simulate)
    if simulation and len(labelled) < len(df):
        raise InputError(f"simulate=True needs every row of df labelled (the hidden truth), but {len(df) - len(labelled)} "
                         "rows have no label; drop them or pass simulate=None")
    class_list = _class_list(labelled, classes, test_df, label)

    holdout = f"test_df ({len(test_df)} rows)" if test_df is not None else None
    if test_df is None and holdout_fraction == 0:
        test_df, holdout = df.iloc[0:0], "none (holdout_fraction=0)"
    if test_df is None:
        test_ids = stratified_holdout(labelled, holdout_fraction, rng)
        test_df, df = df.loc[test_ids], df.drop(index=test_ids)
        holdout = f"seeded stratified {holdout_fraction:.0%} split of the labelled rows ({len(test_ids)} rows)" \
            if len(test_ids) else "none: no labelled rows to set aside (accuracy is NaN)"
    if simulation:
        initial_ids = _initial_per_class(df[label], initial_per_class, rng)
    else:
        initial_ids = df.index[df[label].notna()].tolist()
    return PreparedData(df, test_df, class_list, initial_ids, simulation, holdout, dropped)


def _class_list(labelled, classes, test_df, label):
    found = sorted(labelled.unique(), key=lambda v: (str(type(v)), v))
    if classes is not None:
        classes = list(classes)
        unknown = [c for c in found if c not in classes]
        if unknown:
            raise InputError(f"df has labels not in classes=: {first_few(unknown)}; add them to classes or fix the labels")
        found = classes
    if len(found) < 2:
        raise InputError(f"only one class ({found[0]!r}) is labelled; active learning needs at least 2 classes")
    if test_df is not None:
        unseen = sorted(set(test_df[label]) - set(found), key=str)
        if unseen:
            raise InputError(
                f"test_df has classes never seen in training: {first_few(unseen)}; drop those rows from "
                "test_df or add labelled examples of them to df"
            )
    return found


def _initial_per_class(labels: pd.Series, per_class, rng) -> list:
    picked = []
    for cls in sorted(labels.unique(), key=str):
        ids = labels.index[labels == cls].to_numpy()
        picked.extend(rng.choice(ids, size=min(per_class, len(ids)), replace=False).tolist())
    return picked
