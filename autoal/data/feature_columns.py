"""Which columns besides the label and the image are features, of which kind, and how they are encoded.

A run decides once, before anything is trained (:func:`plan_features`), which of the user's other
columns its learner reads, and of which kind each is:

- ``numeric``: numbers (scaled by the pool's mean and standard deviation; missing values become the mean);
- ``categorical``: booleans, pandas categoricals and short repeated text (one-hot over the pool's most
  frequent :data:`MAX_LEVELS` levels; others and missing values encode as all zeros);
- ``text``: free text (many words, mostly distinct values), read only by learners with a text model.

Left out, each with its reason in the run's message and settings: identifiers (every value distinct),
paths to other files, URLs, dates, columns with a single value or no value. ``feature_cols=`` overrides
the choice: a list of columns (each kind inferred) or a dict ``{column: kind}``.

The encoding uses no label (it is "target-free"): the statistics come from the pool's rows when the
run starts and are stored with its settings, so every round, every fold model and a resumed run
encode the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from autoal.common.checks import StrOptions, check_option
from autoal.common.json_values import plain_scalar
from autoal.errors import InputError, first_few

__all__ = ["FeatureColumns", "plan_features", "choose_features", "KINDS", "MAX_LEVELS"]

#: The kinds of feature column.
KINDS = ("numeric", "categorical", "text")
#: One-hot encoding keeps at most this many levels of a categorical column (the most frequent).
MAX_LEVELS = 50
#: Columns with fewer non-missing values than this are never called identifiers or free text by their
#: distinct values alone (on a handful of rows every column looks distinct).
_MIN_ROWS_FOR_DISTINCT = 20
_ID_NAME = re.compile(r"(?:^|[_\s.-])(?:id|ids|key|uuid|guid|index|idx)$|^(?:id|uuid|guid)(?:[_\s.-]|$)", re.IGNORECASE)
_FILE_EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,4}$")
_IMAGE_EXTENSION = re.compile(r"\.(?:png|jpe?g|gif|bmp|tiff?|webp)$", re.IGNORECASE)
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


@dataclass
class FeatureColumns:
    """The feature columns of a run and how they are encoded.

    Attributes
    ----------
    numeric : list of (name, mean, std)
        Numeric columns with the pool's mean and standard deviation (std 1.0 for a constant column).
    categorical : list of (name, levels)
        Categorical columns with their one-hot levels, most frequent first.
    text : list of names
        Free-text columns (for learners with a text model).
    excluded : list of (name, reason)
        Columns left out, each with why.
    """

    numeric: list = field(default_factory=list)
    categorical: list = field(default_factory=list)
    text: list = field(default_factory=list)
    excluded: list = field(default_factory=list)

    # -- what it holds -----------------------------------------------------------------------------

    @property
    def used(self) -> list:
        """Names of every feature column: numeric, categorical, then text."""
        return [n for n, _, _ in self.numeric] + [n for n, _ in self.categorical] + list(self.text)

    @property
    def encoded_width(self) -> int:
        """Width of :meth:`encode`'s matrix (text columns are not encoded)."""
        return len(self.numeric) + sum(len(levels) for _, levels in self.categorical)

    def kind_of(self, name) -> str | None:
        """The kind of feature column ``name``, or None when it is not one."""
        if name in [n for n, _, _ in self.numeric]:
            return "numeric"
        if name in [n for n, _ in self.categorical]:
            return "categorical"
        return "text" if name in self.text else None

    def autogluon_column_types(self) -> dict:
        """``column_types`` for AutoGluon MultiModal: ``numerical``, ``categorical`` or ``text`` by column."""
        types = {n: "numerical" for n, _, _ in self.numeric}
        types.update({n: "categorical" for n, _ in self.categorical})
        types.update({n: "text" for n in self.text})
        return types

    def without(self, names, reason) -> "FeatureColumns":
        """A copy with the columns ``names`` moved to the excluded ones, each with ``reason``."""
        names = list(names)
        return FeatureColumns(
            [c for c in self.numeric if c[0] not in names], [c for c in self.categorical if c[0] not in names],
            [n for n in self.text if n not in names], self.excluded + [(n, reason) for n in names])

    # -- encoding ----------------------------------------------------------------------------------

    def encode(self, df: pd.DataFrame) -> np.ndarray:
        """The numeric and categorical columns of ``df`` as a float32 matrix, shape (len(df), encoded_width).

        Numeric columns are scaled with the stored mean and std (missing values -> 0, the mean);
        categorical columns are one-hot over the stored levels (other values and missing -> zeros).
        Text columns are not part of it.
        """
        missing = [n for n in [n for n, _, _ in self.numeric] + [n for n, _ in self.categorical] if n not in df.columns]
        if missing:
            raise InputError(f"the data lacks the run's feature columns {first_few(missing)}; pass rows with every "
                             "column the run was started with")
        out = np.zeros((len(df), self.encoded_width), dtype=np.float32)
        k = 0
        for name, mean, std in self.numeric:
            values = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            scaled = (values - mean) / std
            out[:, k] = np.where(np.isnan(scaled), 0.0, scaled)
            k += 1
        for name, levels in self.categorical:
            codes = pd.Index(levels, dtype=object).get_indexer(pd.Index(df[name].astype(object)))
            rows = np.flatnonzero(codes >= 0)
            out[rows, k + codes[rows]] = 1.0
            k += len(levels)
        return out

    # -- messages and storage ----------------------------------------------------------------------

    def describe(self, *, besides="the image") -> str:
        """One paragraph for people: the feature columns by kind and the ones left out with why."""
        parts = []
        for kind, names in (("numeric", [n for n, _, _ in self.numeric]), ("categorical", [n for n, _ in self.categorical]),
                            ("text", self.text)):
            if names:
                parts.append(f"{kind} {first_few(names, 8)}")
        text = f"autoal: features besides {besides}: " + ("; ".join(parts) if parts else "none")
        if self.excluded:
            text += ". Left out: " + "; ".join(f"{name!r} ({reason})" for name, reason in self.excluded)
            text += ". Choose the columns with feature_cols=[...] (CLI: --feature-cols a,b)"
        return text

    def to_dict(self) -> dict:
        """A JSON-able dict (column names stay values, so integer names survive JSON)."""
        return {"numeric": [[n, float(m), float(s)] for n, m, s in self.numeric],
                "categorical": [[n, [plain_scalar(v) for v in levels]] for n, levels in self.categorical],
                "text": list(self.text), "excluded": [[n, r] for n, r in self.excluded]}

    @classmethod
    def from_dict(cls, data) -> "FeatureColumns | None":
        """The :class:`FeatureColumns` that :meth:`to_dict` wrote (None and instances pass through)."""
        if data is None or isinstance(data, FeatureColumns):
            return data
        return cls([tuple(c) for c in data.get("numeric", [])], [(n, list(levels)) for n, levels in data.get("categorical", [])],
                   list(data.get("text", [])), [tuple(c) for c in data.get("excluded", [])])


# -- deciding ------------------------------------------------------------------------------------------


def plan_features(frame: pd.DataFrame, *, label, image_col=None, feature_cols=None, test=None) -> FeatureColumns:
    """Decide the feature columns of ``frame`` (every column but ``label`` and ``image_col``) and their encoding.

    Parameters
    ----------
    frame : DataFrame
        The pool (its rows give the encoding's statistics; its labels are not read).
    label, image_col : str
        The label column and the image column (None: no image).
    feature_cols : None, list or dict, optional
        None: decide by the rules in this module's docstring. A list of column names: exactly these,
        each of the kind its values suggest (a column that the rules would leave out is kept). A dict
        ``{name: kind}`` with kinds from :data:`KINDS` (None: inferred): exactly these, of these kinds.
    test : DataFrame, optional
        The holdout, which must hold every feature column too.

    Returns
    -------
    FeatureColumns

    Raises
    ------
    InputError
        For an unknown column, the label or image column named as a feature, an unknown kind, a
        numeric column whose values are not numbers, a date, or a holdout that lacks a feature column.
    """
    others = [c for c in frame.columns if c != label and c != image_col]
    if feature_cols is None:
        chosen, kinds = others, {}
    else:
        chosen, kinds = _check_feature_cols(feature_cols, frame, label, image_col)
    plan = FeatureColumns()
    for name in others:
        if name not in chosen:
            plan.excluded.append((name, "not in feature_cols"))
            continue
        kind, reason = _kind(frame[name], name, image_col, forced=kinds.get(name), chosen=feature_cols is not None)
        if kind is None:
            plan.excluded.append((name, reason))
        elif kind == "numeric":
            plan.numeric.append((name, *_scale(frame[name], name)))
        elif kind == "categorical":
            plan.categorical.append((name, _levels(frame[name])))
        else:
            plan.text.append(name)
    if test is not None:
        lacking = [n for n in plan.used if n not in test.columns]
        if lacking:
            raise InputError(f"test_df lacks the feature columns {first_few(lacking)} that df has; add them to test_df "
                             "or leave them out with feature_cols=[...]")
    return plan


def _check_feature_cols(feature_cols, frame, label, image_col):
    if isinstance(feature_cols, str):
        raise InputError(f"feature_cols must be a list of column names (or a dict column -> kind), got the string "
                         f"{feature_cols!r}; write feature_cols=[{feature_cols!r}]")
    kinds = {}
    if isinstance(feature_cols, dict):
        for name, kind in feature_cols.items():
            check_option(f"the kind of feature_cols column {name!r}", kind, StrOptions(KINDS), None,
                         hint="None infers it from the values")
        kinds = {n: k for n, k in feature_cols.items() if k is not None}
    try:
        names = list(feature_cols)
    except TypeError:
        raise InputError(f"feature_cols must be a list of column names (or a dict column -> kind), got "
                         f"{type(feature_cols).__name__}") from None
    for name, role, option in ((label, "the label", "label"), (image_col, "the image column", "image_col")):
        if name is not None and name in names:
            raise InputError(f"feature_cols names {name!r}, which is {role} ({option}=); remove it from feature_cols")
    unknown = [n for n in names if n not in frame.columns]
    if unknown:
        raise InputError(f"feature_cols names columns that df does not have: {first_few(unknown)} (columns: "
                         f"{first_few([c for c in frame.columns if c not in (label, image_col)], 12)}); fix the names")
    repeated = sorted({n for n in names if names.count(n) > 1}, key=str)
    if repeated:
        raise InputError(f"feature_cols names {first_few(repeated)} more than once; name each column once")
    return names, kinds


def _kind(series: pd.Series, name, image_col, *, forced=None, chosen=False):
    """``(kind, None)`` for a feature column or ``(None, reason)`` for one left out."""
    values = series.dropna()
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        reason = (f"a date: derive numbers from it, e.g. df['{name}_month'] = df[{name!r}].dt.month, and use those")
        if chosen:
            raise InputError(f"feature column {name!r} holds dates, which autoal does not turn into features; {reason}")
        return None, reason
    if values.empty:
        if chosen:
            raise InputError(f"feature column {name!r} has no value in df; fill it in or leave it out of feature_cols")
        return None, "no value in any row"
    if forced is not None:
        return _forced(series, name, forced), None
    numeric = pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)
    try:
        values.nunique()
    except TypeError:
        raise InputError(f"column {name!r} holds {type(values.iloc[0]).__name__} values such as {values.iloc[0]!r}, which "
                         f"are neither numbers nor text; convert it (e.g. df[{name!r}] = df[{name!r}].astype(str)) "
                         "or drop it") from None
    if numeric and not np.all(np.isfinite(values.to_numpy(dtype=np.float64))):
        raise InputError(f"feature column {name!r} holds infinite values; replace them (e.g. with NaN) or leave the "
                         "column out with feature_cols=[...]")
    if not chosen:
        reason = _left_out(series, values, name, numeric, image_col)
        if reason:
            return None, reason
    if pd.api.types.is_bool_dtype(series.dtype) or isinstance(series.dtype, pd.CategoricalDtype):
        return "categorical", None
    if numeric:
        return "numeric", None
    if not all(isinstance(v, str) for v in values):
        return "categorical", None
    return ("text" if _looks_like_text(values) else "categorical"), None


def _left_out(series, values, name, numeric, image_col) -> str | None:
    """Why the rules leave this column out, or None."""
    distinct = values.nunique()
    if distinct == 1:
        return f"one value ({values.iloc[0]!r}) in every row"
    all_distinct = distinct == len(values) and len(values) >= _MIN_ROWS_FOR_DISTINCT
    if numeric:
        integral = pd.api.types.is_integer_dtype(series.dtype) or bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))
        if all_distinct and integral:
            ordered = np.sort(values.to_numpy(dtype=np.float64))
            if _ID_NAME.search(str(name)) or bool(np.all(np.diff(ordered) == 1)):
                return "an identifier: a distinct whole number in every row"
        return None
    if isinstance(series.dtype, pd.CategoricalDtype) or not all(isinstance(v, str) for v in values):
        return None
    text = values.astype(str)
    if text.str.match(_URL).mean() >= 0.9:
        return "URLs: autoal fetches nothing"
    pathlike = (text.str.contains(r"[/\\]") & text.str.contains(_FILE_EXTENSION)) | text.str.contains(_IMAGE_EXTENSION)
    if pathlike.mean() >= 0.9:
        if text.str.contains(_IMAGE_EXTENSION).mean() >= 0.9:
            hint = (f"autoal reads only the image column's files; if these are the images, pass image_col={name!r}"
                    if image_col is None else "autoal reads only the image column's files")
            return f"paths to image files: {hint}"
        return "paths to other files: autoal does not read them"
    if all_distinct and not _looks_like_text(values):
        return "an identifier: a distinct value in every row"
    return None


def _looks_like_text(values: pd.Series) -> bool:
    """Free text: several words per value on average and mostly distinct values (categories repeat)."""
    words = values.astype(str).str.split().str.len().mean()
    distinct = values.nunique()
    return bool(words >= 3 and (distinct > 0.5 * len(values) or distinct > MAX_LEVELS))


def _forced(series, name, kind) -> str:
    if kind == "numeric":
        converted = pd.to_numeric(series, errors="coerce")
        bad = series[converted.isna() & series.notna()]
        if len(bad) or pd.api.types.is_bool_dtype(series.dtype):
            shown = first_few(bad.unique()) if len(bad) else "booleans"
            raise InputError(f"feature column {name!r} was given as numeric but holds values that are not numbers: "
                             f"{shown}; fix them, or give it as 'categorical'")
    return kind


def _scale(series, name) -> tuple:
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    values = values[~np.isnan(values)]
    if not np.all(np.isfinite(values)):
        raise InputError(f"feature column {name!r} holds infinite values; replace them (e.g. with NaN) or leave the "
                         "column out with feature_cols=[...]")
    mean, std = float(values.mean()), float(values.std())
    return mean, (std if std > 0 else 1.0)


def _levels(series) -> list:
    counts = series.dropna().astype(object).value_counts(sort=False)
    order = sorted(counts.index, key=lambda v: (-counts[v], str(v)))
    return [plain_scalar(v) for v in order[:MAX_LEVELS]]


def choose_features(data, learner, *, label, image_col, feature_cols=None, verbose=True) -> dict:
    """The feature columns a new run's ``learner`` will read, as stored in the run's settings.

    :func:`plan_features` on the run's pool (and holdout), then the learner's
    :meth:`~autoal.learners.Learner.usable_feature_columns`; prints which columns are used and which are left
    out, with why, when ``verbose``.

    Parameters
    ----------
    data : PreparedData
        The run's validated data.
    learner : Learner
        The run's learner (not yet configured).
    label, image_col, feature_cols
        As for :func:`autoal.run`.

    Returns
    -------
    dict
        :meth:`FeatureColumns.to_dict` of the chosen columns.
    """
    plan = plan_features(data.frame, label=label, image_col=image_col, feature_cols=feature_cols, test=data.test)
    plan = learner.usable_feature_columns(plan, image_col=image_col)
    if verbose and (plan.used or plan.excluded):
        print(plan.describe(besides="the image" if image_col is not None else "the label"))
    return plan.to_dict()
