"""The contract every Learner must meet: fit returns self, predict_proba is (n, K) on the run's classes."""

import numpy as np
import pytest
from conftest import write_images

from autoal.learners import FastLearner, pad_probabilities

CLASSES = ["red", "green", "blue"]


def check_contract(learner, df, tmp_path):
    learner.configure(classes=CLASSES, output_dir=tmp_path / "out", random_state=0)
    two_classes = df[df["label"] != "blue"]
    assert learner.fit(two_classes) is learner
    probs = learner.predict_proba(df.drop(columns=["label"]))
    assert probs.shape == (len(df), 3)
    assert np.all(probs >= 0) and np.allclose(probs.sum(axis=1), 1.0)
    assert np.all(probs[:, CLASSES.index("blue")] == 0), "a class the model never saw gets probability 0"
    learner.fit(df)
    probs = learner.predict_proba(df.drop(columns=["label"]))
    assert probs[:, CLASSES.index("blue")].max() > 0
    return probs


def test_fast_learner_meets_the_contract_and_learns(tmp_path):
    df = write_images(tmp_path / "img", 10)
    probs = check_contract(FastLearner(), df, tmp_path)
    accuracy = (np.array(CLASSES)[probs.argmax(axis=1)] == df["label"].to_numpy()).mean()
    assert accuracy > 0.9


def test_pad_probabilities_places_columns_and_fills_zeros():
    out = pad_probabilities([[0.25, 0.75]], ["c", "a"], ["a", "b", "c"])
    np.testing.assert_array_equal(out, [[0.75, 0.0, 0.25]])


def test_pad_probabilities_rejects_classes_outside_the_run():
    with pytest.raises(ValueError, match="outside the run's class list .*: \\['z'\\]"):
        pad_probabilities([[1.0]], ["z"], ["a"])
