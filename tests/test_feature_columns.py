"""Which columns are features, of which kind, and their target-free encoding (no training)."""

import json

import numpy as np
import pandas as pd
import pytest

from autoal.errors import InputError
from autoal.data.feature_columns import MAX_LEVELS, FeatureColumns, plan_features
from autoal.learners.feature_blocks import BlockScaler, block_weight, join_blocks


def table(n=40, seed=0):
    rng = np.random.default_rng(seed)
    words = ["great", "awful", "fine", "plot", "slow", "fun", "long", "dull", "sharp", "warm", "cold", "odd"]
    return pd.DataFrame({
        "label": rng.choice(["a", "b"], n),
        "image_path": [f"/data/img/{i}.png" for i in range(n)],
        "height": rng.normal(170, 10, n),
        "count": rng.integers(0, 5, n),
        "colour": rng.choice(["red", "green", "blue"], n),
        "member": rng.random(n) > 0.5,
        "size": pd.Categorical(rng.choice(["S", "M", "L"], n)),
        "review": [" ".join(rng.choice(words, 6)) for _ in range(n)],
        "sample_id": np.arange(100, 100 + n),
        "code": [f"X{i:05d}" for i in range(n)],
        "mask": [f"masks/{i}.png" for i in range(n)],
        "report": [f"/reports/{i}.pdf" for i in range(n)],
        "page": [f"https://example.org/{i}" for i in range(n)],
        "taken": pd.date_range("2026-01-01", periods=n),
        "site": ["lab"] * n,
        "empty": [np.nan] * n,
    })


def test_every_kind_of_column_is_recognised_and_the_others_left_out_with_a_reason():
    plan = plan_features(table(), label="label", image_col="image_path")
    assert [n for n, _, _ in plan.numeric] == ["height", "count"]
    assert [n for n, _ in plan.categorical] == ["colour", "member", "size"]
    assert plan.text == ["review"]
    reasons = dict(plan.excluded)
    assert set(reasons) == {"sample_id", "code", "mask", "report", "page", "taken", "site", "empty"}
    assert reasons["sample_id"].startswith("an identifier") and reasons["code"].startswith("an identifier")
    assert reasons["mask"].startswith("paths to image files") and reasons["report"].startswith("paths to other files")
    assert reasons["page"].startswith("URLs")
    assert "a date" in reasons["taken"] and ".dt.month" in reasons["taken"]
    assert reasons["site"] == "one value ('lab') in every row" and reasons["empty"] == "no value in any row"
    text = plan.describe()
    assert "numeric 'height', 'count'" in text and "'sample_id' (an identifier" in text and "feature_cols=" in text


def test_image_paths_without_an_image_column_suggest_image_col():
    plan = plan_features(table()[["label", "mask", "height"]], label="label", image_col=None)
    assert "pass image_col='mask'" in dict(plan.excluded)["mask"]


def test_few_rows_are_not_called_identifiers():
    plan = plan_features(table(n=8), label="label", image_col="image_path")
    assert "code" in [n for n, _ in plan.categorical], "8 distinct codes are not enough to call them ids"


def test_integer_columns_are_identifiers_only_when_named_so_or_consecutive():
    df = pd.DataFrame({"label": ["a", "b"] * 15, "row": np.arange(30) + 7, "item_id": np.arange(30) * 3,
                       "weight": np.arange(30) * 3 + 1})
    plan = plan_features(df, label="label")
    assert [n for n, _, _ in plan.numeric] == ["weight"]
    assert {n for n, _ in plan.excluded} == {"row", "item_id"}


def test_feature_cols_list_keeps_exactly_those_even_ones_the_rules_leave_out():
    plan = plan_features(table(), label="label", image_col="image_path", feature_cols=["sample_id", "colour"])
    assert [n for n, _, _ in plan.numeric] == ["sample_id"] and [n for n, _ in plan.categorical] == ["colour"]
    assert dict(plan.excluded)["height"] == "not in feature_cols"


def test_feature_cols_dict_sets_kinds_and_none_infers():
    plan = plan_features(table(), label="label", image_col="image_path",
                         feature_cols={"count": "categorical", "height": None, "colour": "text"})
    assert plan.kind_of("count") == "categorical" and plan.kind_of("height") == "numeric"
    assert plan.kind_of("colour") == "text" and plan.kind_of("review") is None
    assert plan.autogluon_column_types() == {"height": "numerical", "count": "categorical", "colour": "text"}


@pytest.mark.parametrize("feature_cols, message", [
    (["nope", "height"], r"feature_cols names columns that df does not have: 'nope' \(columns: 'height'"),
    (["label"], r"feature_cols names 'label', which is the label \(label=\); remove it"),
    (["image_path"], r"which is the image column \(image_col=\)"),
    ("height", r"must be a list of column names .* write feature_cols=\['height'\]"),
    (["height", "height"], r"names 'height' more than once"),
    ({"height": "number"}, r"the kind of feature_cols column 'height' must be one of 'numeric', 'categorical', 'text' or None, got 'number'; None infers it"),
    ({"colour": "numeric"}, r"'colour' was given as numeric but holds values that are not numbers: .*'red'"),
    (["taken"], r"'taken' holds dates.*dt\.month"),
    (["empty"], r"'empty' has no value in df"),
    (42, r"must be a list of column names \(or a dict column -> kind\), got int"),
])
def test_bad_feature_cols_are_refused_with_the_fix(feature_cols, message):
    with pytest.raises(InputError, match=message):
        plan_features(table(), label="label", image_col="image_path", feature_cols=feature_cols)


def test_holdout_must_have_the_feature_columns():
    df = table()
    with pytest.raises(InputError, match=r"test_df lacks the feature columns 'height'.*feature_cols"):
        plan_features(df, label="label", image_col="image_path", test=df.drop(columns=["height"]))


def test_unstorable_values_are_named():
    df = pd.DataFrame({"label": ["a", "b"], "tags": [["x"], ["y"]]})
    with pytest.raises(InputError, match=r"column 'tags' holds list values .*astype\(str\)"):
        plan_features(df, label="label")


def test_infinite_numbers_are_refused():
    df = pd.DataFrame({"label": ["a", "b", "a"], "x": [1.0, np.inf, 2.0]})
    with pytest.raises(InputError, match="'x' holds infinite values"):
        plan_features(df, label="label")


def test_encoding_scales_numbers_and_one_hot_encodes_levels_without_labels():
    df = pd.DataFrame({"label": ["a", "b", "a", "b"], "x": [1.0, 2.0, 3.0, np.nan], "c": ["u", "v", "u", None]})
    plan = plan_features(df, label="label")
    (name, mean, std), = plan.numeric
    assert (name, mean) == ("x", 2.0) and std == pytest.approx(np.std([1.0, 2.0, 3.0]))
    assert plan.categorical == [("c", ["u", "v"])]
    out = plan.encode(pd.DataFrame({"x": [2.0, np.nan, 4.0], "c": ["v", "w", np.nan]}))
    np.testing.assert_allclose(out, [[0, 0, 1], [0, 0, 0], [2 / std, 0, 0]], rtol=1e-6)
    assert out.dtype == np.float32
    flipped = plan_features(df.assign(label=["b", "a", "b", "a"]), label="label")
    assert flipped == plan, "the encoding never reads the labels"


def test_one_hot_keeps_the_most_frequent_levels():
    values = [f"v{k}" for k in range(MAX_LEVELS + 10) for _ in range(1 + (k < 5))]
    plan = plan_features(pd.DataFrame({"label": "a", "c": values}), label="label", feature_cols=["c"])
    levels = plan.categorical[0][1]
    assert len(levels) == MAX_LEVELS and levels[:5] == ["v0", "v1", "v2", "v3", "v4"]


def test_encoding_needs_the_columns():
    plan = plan_features(table(), label="label", image_col="image_path")
    with pytest.raises(InputError, match="lacks the run's feature columns 'height'"):
        plan.encode(table().drop(columns=["height"]))


def test_plan_survives_json_with_integer_column_names_and_levels():
    df = pd.DataFrame({"label": ["a", "b"] * 10, 0: np.arange(20) * 2.5, 1: [3, 4] * 10, "flag": [True, False] * 10})
    plan = plan_features(df, label="label", feature_cols={0: "numeric", 1: "categorical", "flag": None})
    back = FeatureColumns.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert back == plan and back.used == [0, 1, "flag"]
    np.testing.assert_array_equal(back.encode(df), plan.encode(df))
    assert FeatureColumns.from_dict(None) is None and FeatureColumns.from_dict(plan) is plan


def test_without_moves_columns_to_the_excluded_ones():
    plan = plan_features(table(), label="label", image_col="image_path").without(["review"], "no text model")
    assert plan.text == [] and ("review", "no text model") in plan.excluded


def test_block_weight_gives_the_columns_the_image_block_s_weight():
    assert block_weight(1280, 1) == pytest.approx(np.sqrt(1280))
    assert block_weight(1280, 20) == pytest.approx(8.0)
    assert block_weight(4, 10) == 1.0


def test_block_scaler_is_standard_scaling_then_weights_the_column_block():
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = rng.normal(3, 2, (50, 6))
    z = BlockScaler(4).fit_transform(x)
    np.testing.assert_allclose(z[:, :4], StandardScaler().fit_transform(x)[:, :4])
    np.testing.assert_allclose(z[:, 4:].std(axis=0), [np.sqrt(2)] * 2, rtol=1e-6)
    np.testing.assert_array_equal(BlockScaler(6).fit_transform(x), StandardScaler().fit_transform(x))


def test_block_scaler_standardises_with_reference_statistics_and_clones_keep_them():
    from sklearn.base import clone

    from autoal.learners.feature_blocks import reference_statistics

    rng = np.random.default_rng(1)
    population, rows = rng.normal(3, 2, (500, 5)), rng.normal(5, 1, (8, 5))  # rows: an unfair sample
    mean, scale = reference_statistics(population)
    scaler = BlockScaler(5, reference=(mean, scale))
    np.testing.assert_allclose(scaler.fit_transform(rows), (rows - population.mean(axis=0)) / population.std(axis=0))
    assert abs(scaler.transform(rows).mean()) > 0.5, "the rows' own mean was not subtracted"
    twin = clone(scaler)
    np.testing.assert_array_equal(twin.fit_transform(rows), scaler.transform(rows))
    with pytest.raises(ValueError, match="reference statistics for 5 columns, rows with 4"):
        BlockScaler(4, reference=(mean, scale)).fit(rows[:, :4])


def test_join_blocks_gives_each_block_the_same_total_variance():
    rng = np.random.default_rng(0)
    image, columns = rng.normal(0, 5, (200, 64)).astype(np.float32), rng.normal(0, 1, (200, 4)).astype(np.float32)
    joined = join_blocks(image, columns)
    assert joined.shape == (200, 68)
    assert joined[:, :64].var(axis=0).sum() == pytest.approx(joined[:, 64:].var(axis=0).sum(), rel=0.15)
    assert join_blocks(image, None) is image
