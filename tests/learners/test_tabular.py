"""The tabular learner: a real AutoGluon TabularPredictor on the feature columns (no image)."""

import os

import numpy as np
import pandas as pd
import pytest
from learners.test_contract import CLASSES, check_contract
from tables import QUICK_TABULAR, write_table

from autoal.errors import InputError
from autoal.data.feature_columns import plan_features
from autoal.learners import TabularLearner


def holdout_accuracy(learner, test):
    probs = learner.predict_proba(test.drop(columns=["label"]))
    return float((np.array(learner.classes)[probs.argmax(axis=1)] == test["label"].to_numpy()).mean())


def test_tabular_learner_meets_the_contract_and_learns_the_deciding_column(tmp_path):
    train, test = write_table(10, seed=0), write_table(20, seed=1)
    learner = TabularLearner(**QUICK_TABULAR)
    check_contract(learner, train, tmp_path)
    assert [n for n, _, _ in learner.feature_columns.numeric] == ["x", "z"], "decided from the data outside a run"
    assert dict(learner.feature_columns.excluded)["sample_id"].startswith("an identifier")
    assert holdout_accuracy(learner, test) >= 0.9
    assert learner.last_fit_info_["model"].endswith("_FULL"), "refit on every labelled row"
    assert sorted(os.listdir(tmp_path / "out" / "models")) == ["tabular_01"], "only the latest predictor is kept"


def test_without_the_deciding_column_it_is_at_chance(tmp_path):
    train, test = write_table(20, seed=0), write_table(20, seed=1)
    plan = plan_features(train, label="label", feature_cols=["z"])
    learner = TabularLearner(**QUICK_TABULAR).configure(classes=CLASSES, image_col=None, output_dir=tmp_path,
                                                        feature_columns=plan)
    assert holdout_accuracy(learner.fit(train), test) < 0.55


def test_text_columns_are_read_through_ngrams(tmp_path):
    words = {"red": "cherry", "green": "grass", "blue": "ocean"}
    filler = ["the", "a", "very", "quite", "seen", "near", "with", "some", "old", "new"]

    def rows(n, seed):
        rng = np.random.default_rng(seed)
        labels = rng.choice(CLASSES, n)
        notes = [" ".join(list(rng.choice(filler, 4)) + [words[c]] + list(rng.choice(filler, 3))) for c in labels]
        return pd.DataFrame({"label": labels, "note": notes, "noise": rng.normal(size=n)})

    train, test = rows(90, 1), rows(60, 2)
    plan = plan_features(train, label="label")
    assert plan.text == ["note"]
    learner = TabularLearner(**QUICK_TABULAR).configure(classes=CLASSES, image_col=None, output_dir=tmp_path,
                                                        feature_columns=plan)
    assert holdout_accuracy(learner.fit(train), test) >= 0.9
    features = learner.embeddings(test)
    assert features.shape == (60, 1), "encoded columns: the numeric one (text is not encoded)"
    text_only = plan.without(["noise"], "dropped")
    learner = TabularLearner(**QUICK_TABULAR).configure(classes=CLASSES, image_col=None, output_dir=tmp_path / "t",
                                                        feature_columns=text_only)
    assert learner.embeddings(test).shape == (60, 256), "text only: hashed word counts for k-means"


def test_features_are_the_scaled_and_one_hot_columns(tmp_path):
    df = write_table(10)
    plan = plan_features(df, label="label")
    learner = TabularLearner().configure(classes=CLASSES, image_col=None, feature_columns=plan)
    features = learner.embeddings(df)
    assert features.shape == (30, 2 + 3) and features.dtype == np.float32
    np.testing.assert_allclose(features[:, 0].mean(), 0, atol=1e-6)
    np.testing.assert_array_equal(features[:, 2:].sum(axis=1), np.ones(30))


def test_one_class_is_certain_without_a_model(tmp_path):
    df = write_table(5)
    learner = TabularLearner().configure(classes=CLASSES, image_col=None, output_dir=tmp_path)
    learner.fit(df[df["label"] == "green"])
    probs = learner.predict_proba(df.drop(columns=["label"]))
    np.testing.assert_array_equal(probs, np.tile([0.0, 1.0, 0.0], (15, 1)))


def test_integer_classes_and_integer_column_names(tmp_path):
    df = write_table(10).rename(columns={"x": 0, "z": 1})
    df["label"] = df["label"].map({"red": 0, "green": 1, "blue": 2})
    learner = TabularLearner(**QUICK_TABULAR).configure(classes=[0, 1, 2], image_col=None, output_dir=tmp_path)
    probs = learner.fit(df).predict_proba(df.drop(columns=["label"]))
    assert (probs.argmax(axis=1) == df["label"].to_numpy()).mean() >= 0.9


def test_no_feature_column_is_a_clear_error():
    df = write_table(10)[["label", "sample_id"]]
    plan = plan_features(df, label="label")
    with pytest.raises(InputError, match=r"tabular learner needs feature columns.*'sample_id' \(an identifier"):
        TabularLearner().usable_feature_columns(plan, image_col=None)


def test_missing_columns_at_prediction_are_named(tmp_path):
    df = write_table(5)
    learner = TabularLearner(**QUICK_TABULAR).configure(classes=CLASSES, image_col=None, output_dir=tmp_path).fit(df)
    with pytest.raises(InputError, match=r"lacks the run's feature columns \['x'\]"):
        learner.predict_proba(df.drop(columns=["label", "x"]))


def test_fold_models_skip_the_refit():
    learner = TabularLearner(hyperparameters={"RF": {}}).configure(classes=CLASSES, image_col=None)
    fold = learner.fold_learner()
    assert isinstance(fold, TabularLearner) and fold.refit_full is False and fold.hyperparameters == {"RF": {}}
    assert TabularLearner(refit_full=False).fold_learner().refit_full is False


def test_one_row_per_class_trains(tmp_path):
    """AutoGluon cannot hold out a validation row when every class has one: the learner validates on the rows."""
    df = write_table(5)
    train = df.groupby("label").head(1)
    learner = TabularLearner(**QUICK_TABULAR).configure(classes=CLASSES, image_col=None, output_dir=tmp_path).fit(train)
    probs = learner.predict_proba(train.drop(columns=["label"]))
    assert probs.shape == (3, 3) and np.allclose(probs.sum(axis=1), 1)
