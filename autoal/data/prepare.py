"""Validation of the user's data and the split into labelled set, pool and holdout.

Everything here runs before any training, so that a mistake in the data costs seconds, not a round.
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from autoal.common.checks import StrOptions, check_option
from autoal.errors import InputError, first_few

__all__ = ["PreparedData", "check_columns", "normalize_labels", "find_bad_images", "prepare_data", "match_class", "UNKNOWN"]

UNKNOWN = object()  # match_class's answer for a label that is not a class


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


def normalize_labels(values: pd.Series, what="df") -> pd.Series:
    """Return the labels as plain Python ints or strings (NaN kept), rejecting mixed or fractional types.

    Integral floats (what pandas makes of integer labels next to NaN) become ints.
    """
    fast = _normalize_common_labels(values)
    if fast is not None:
        return fast
    present = values.dropna()
    kinds = {}
    for idx, value in present.items():
        if isinstance(value, (bool, np.bool_)):
            kind = "bool"
        elif isinstance(value, numbers.Integral):
            kind = "int"
        elif isinstance(value, numbers.Real):
            if not float(value).is_integer():
                raise InputError(
                    f"{what} label {value!r} (id {idx!r}) is not a class: labels must be class names or integer class ids"
                )
            kind = "int"
        elif isinstance(value, str):
            kind = "str"
        else:
            kind = type(value).__name__
        kinds.setdefault(kind, idx)
    if len(kinds) > 1:
        examples = ", ".join(f"{kind} (e.g. id {idx!r}: {present[idx]!r})" for kind, idx in kinds.items())
        raise InputError(
            f"{what} mixes label types: {examples}; make every label the same type, e.g. "
            f"df[{values.name!r}] = df[{values.name!r}].astype(str)"
        )
    convert = {"int": int, "str": str.strip}.get(next(iter(kinds), None), lambda v: v)
    return pd.Series(
        [np.nan if pd.isna(v) else convert(v) for v in values], index=values.index, dtype=object, name=values.name
    )


#: ``check_images="auto"`` decodes every image up to this many distinct files, else a sample of them.
FULL_CHECK_LIMIT = 20_000
#: Images decoded by ``check_images="auto"`` on bigger sets (besides checking that every file exists).
CHECK_SAMPLE = 2_000
CHECK_RULES = ("auto", "all", "exists")


def _normalize_common_labels(values: pd.Series):
    """:func:`normalize_labels` for all-text or all-integral labels, vectorised; None for anything else."""
    present = values.dropna()
    kind = pd.api.types.infer_dtype(present, skipna=True) if len(present) else "empty"
    out = pd.Series(np.nan, index=values.index, dtype=object, name=values.name)
    if kind == "string":
        out[present.index] = present.str.strip()
        return out
    if kind == "integer" or (kind in ("floating", "mixed-integer-float")
                             and np.all(np.mod(present.to_numpy(dtype=float), 1) == 0)):
        out[present.index] = present.to_numpy(dtype=np.int64).astype(object)
        return out
    return None


def find_bad_images(paths, *, decode="all", random_state=0) -> list:
    """Return ``(path, reason)`` for every path that is missing, not a file, or (among those decoded) not an image.

    Parameters
    ----------
    paths : iterable of str
        Image paths (repeats are checked once).
    decode : {"all", "auto", "exists"}
        Which existing files are also fully decoded: all of them; all up to :data:`FULL_CHECK_LIMIT`
        distinct files, else a seeded sample of :data:`CHECK_SAMPLE`; or none. The header of every
        existing file that is not decoded is read (:func:`autoal.common.images.header_check`): a file that
        is not an image or is a decompression bomb is found before any training, whatever ``decode``.
    random_state : int
        Seeds the sample.
    """
    from autoal.common.images import decode_check, header_check

    unique = list(dict.fromkeys(map(str, paths)))
    bad, present = [], []
    for path in unique:
        p = Path(path)
        if not p.exists():
            bad.append((path, "does not exist"))
        elif not p.is_file():
            bad.append((path, "is not a file"))
        else:
            present.append(path)
    from autoal.common.progress import task

    decoded = _to_decode(present, decode, random_state)
    with task("checking that the images decode", total=len(decoded), unit="image", delay=1.0) as step:
        for path in decoded:
            try:
                decode_check(path)
            except Exception as exc:  # PIL raises many types for non-images and truncated files
                bad.append((path, f"is not a readable image ({type(exc).__name__})"))
            step.advance()
    for path in sorted(set(present) - set(decoded)):
        try:
            header_check(path)
        except Exception as exc:  # noqa: BLE001 - as above; DecompressionBombError is not an OSError
            bad.append((path, f"is not a readable image ({type(exc).__name__})"))
    return bad


def _to_decode(present, decode, random_state) -> list:
    if decode == "exists":
        return []
    if decode == "auto" and len(present) > FULL_CHECK_LIMIT:
        chosen = np.random.default_rng(random_state).choice(len(present), size=CHECK_SAMPLE, replace=False)
        return [present[k] for k in np.sort(chosen)]
    return present


def _path_text(paths: pd.Series) -> pd.Series:
    """Image paths as text (``pathlib.Path`` objects become strings), as they are stored and read back."""
    if paths.dtype == object and pd.api.types.infer_dtype(paths, skipna=True) not in ("string", "empty") \
            and any(isinstance(p, os.PathLike) for p in paths):
        return pd.Series([os.fspath(p) if isinstance(p, os.PathLike) else p for p in paths], index=paths.index, dtype=object)
    return paths


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


def _drop_or_raise_bad_images(frames, image_col, drop_bad_images, check_images="auto"):
    check_option("check_images", check_images, StrOptions(CHECK_RULES))
    paths = pd.concat([f[image_col] for f in frames]).astype(str)
    bad = find_bad_images(paths, decode=check_images)
    if bad and not drop_bad_images:
        shown = "; ".join(f"{p} {why}" for p, why in bad[:5])
        raise InputError(
            f"{len(bad)} of {paths.nunique()} images cannot be used: {shown}"
            f"{' ...' if len(bad) > 5 else ''}. Fix the paths, or pass drop_bad_images=True "
            "(CLI: --drop-bad-images) to drop these rows"
        )
    bad_paths = {p for p, _ in bad}
    return [f[~f[image_col].astype(str).isin(bad_paths)] for f in frames], bad


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
    images are decoded before the run (:func:`find_bad_images`); every file must exist. ``simulate``
    forces the mode: False treats a fully labelled ``df`` as real labels to check (relabel-only).
    """
    check_columns(df, label, image_col, "df")
    df = _index_by_id(df.copy(), id_col, "df")
    df[label] = normalize_labels(df[label], "df")
    if image_col is not None:
        df[image_col] = _path_text(df[image_col])
    if test_df is not None:
        check_columns(test_df, label, image_col, "test_df")
        test_df = _index_by_id(test_df.copy(), id_col, "test_df")
        test_df[label] = normalize_labels(test_df[label], "test_df")
        if image_col is not None:
            test_df[image_col] = _path_text(test_df[image_col])
        if test_df[label].isna().any():
            raise InputError(f"test_df has {int(test_df[label].isna().sum())} rows without a label; a holdout must be fully labelled")
    frames, dropped = [df] + ([test_df] if test_df is not None else []), []
    if image_col is not None:
        frames, dropped = _drop_or_raise_bad_images(frames, image_col, drop_bad_images, check_images)
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


def match_class(answer, classes):
    """The class an annotator's answer means: the class itself, or its text (``" 3 "`` for class 3).

    Returns None for no answer (None, NaN or blank text) and :data:`UNKNOWN` for anything else.
    """
    if answer is None or (isinstance(answer, float) and np.isnan(answer)):
        return None
    if isinstance(answer, str) and not answer.strip():
        return None
    if answer in classes:
        return answer
    matches = [c for c in classes if str(c) == str(answer).strip()]
    return matches[0] if len(matches) == 1 else UNKNOWN
