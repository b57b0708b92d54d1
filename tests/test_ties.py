"""Ties: one majority-vote rule everywhere, and cleanlab's random tie-breaks seeded by the run."""

import warnings

import cleanlab.multiannotator  # noqa: F401  (imported first: its import changes warning filters)
import numpy as np
from conftest import FixedLearner, write_images

import autoal


class HalfWrong(autoal.Annotator):
    """Right on every other example (by id parity, ``flip`` says which half): two of them tie everywhere."""

    def __init__(self, name, flip):
        self.name, self.flip = name, flip

    def annotate(self, examples):
        answers = []
        for example_id, path in zip(examples.index, examples["image_path"]):
            truth = "red" if "/red_" in path else "blue"
            other = "blue" if truth == "red" else "red"
            answers.append(other if example_id % 2 == int(self.flip) else truth)
        return answers


def tied_run(df, folder, global_seed):
    """A run whose two annotators always disagree and whose model knows nothing (uniform probabilities):
    cleanlab's majority vote is left with ties it breaks at random; NumPy's global generator is set to
    ``global_seed`` first, as another program might have left it."""
    np.random.seed(global_seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = autoal.run(df, learner=FixedLearner({}), annotators=[HalfWrong("a", False), HalfWrong("b", True)],
                            strategy="activelab", batch_size=4, n_rounds=2, initial_per_class=2, holdout_fraction=0,
                            oos="pick", output_dir=folder, verbose=False, random_state=3)
    ties = [w for w in caught if "breaking ties" in str(w.message)]
    return result, ties


def test_two_identical_runs_with_random_ties_agree_whatever_numpys_global_state(tmp_path):
    df = write_images(tmp_path / "img", 6, classes=("red", "blue"))
    first, first_ties = tied_run(df, tmp_path / "one", 1)
    second, second_ties = tied_run(df, tmp_path / "two", 2)
    assert first_ties and second_ties, "the runs reach cleanlab's random tie-break"
    assert first.consensus["label"].to_dict() == second.consensus["label"].to_dict()
    assert first.history["picked_ids"].tolist() == second.history["picked_ids"].tolist()
    assert first.labels[["example_id", "annotator", "label"]].equals(second.labels[["example_id", "annotator", "label"]])
