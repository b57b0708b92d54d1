"""The active-learning loop, driven by learners with fixed probabilities (no training)."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import FixedLearner, TruthLearner, stored_labels

import autoal
from autoal.annotation.annotators import Annotator
from autoal.errors import AnnotationError, InputError


def test_simulation_reveals_initial_labels_and_records_each_round(images, tmp_path):
    result = autoal.run(images, learner="fast", batch_size=6, n_rounds=3, initial_per_class=2,
                        output_dir=tmp_path / "run", verbose=False)
    h = result.history
    assert h["round"].tolist() == [0, 1, 2, 3]
    assert h["n_labeled"].tolist() == [6, 12, 18, 24]
    assert h["n_annotations"].tolist() == h["n_labeled"].tolist()
    holdout = result.test_ids
    assert len(holdout) == 12  # 20% of 60, stratified
    # accuracy is the share of holdout rows the final model gets right, recomputed here from its predictions
    probs = result.learner.predict_proba(images.loc[holdout].drop(columns=["label"]))
    truth = [result.classes.index(c) for c in images.loc[holdout, "label"]]
    assert h["accuracy"].iloc[-1] == pytest.approx(float((probs.argmax(axis=1) == truth).mean()))
    assert (h["fit_seconds"] > 0).all() and (h["eval_seconds"] > 0).all()
    for column in ("predict_seconds", "score_seconds"):  # only query rounds score the pool
        assert np.isnan(h[column].iloc[0]) and (h[column].iloc[1:] > 0).all(), column
    assert (h["select_seconds"] > 0).all(), "round 0 selects the initial set (timed since issue 36)"
    picks = [json.loads(ids) for ids in h["picked_ids"]]
    assert [len(p) for p in picks] == [6, 6, 6, 6] and len({i for p in picks for i in p}) == 24
    assert result.summary["mode"] == "simulation"
    assert "stratified 20% split" in result.summary["holdout"]
    assert (tmp_path / "run" / "learning_curve.png").stat().st_size > 1000
    saved = pd.read_csv(tmp_path / "run" / "history.csv")
    assert saved["n_labeled"].tolist() == [6, 12, 18, 24]
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["final_accuracy"] == result.final_accuracy


def test_ids_are_stable_and_never_picked_twice(images, tmp_path):
    df = images.set_axis([f"img-{i}" for i in range(len(images))])
    result = autoal.run(df, learner="fast", batch_size=5, n_rounds=4, initial_per_class=2,
                        output_dir=tmp_path / "run", verbose=False)
    picked = [i for ids in result.history["picked_ids"] for i in json.loads(ids)]
    assert len(picked) == len(set(picked)) == 6 + 4 * 5
    assert set(picked) <= set(df.index)
    assert result.labels["example_id"].tolist() == picked
    truth = df["label"]
    assert all(truth[i] == lab for i, lab in zip(result.labels["example_id"], result.labels["label"]))


def test_picks_the_lowest_scores_from_the_pool(images, tmp_path):
    test_df = images.iloc[::10]
    pool = images.drop(index=test_df.index)
    uncertain = [i for i in pool.index if i % 7 == 3]  # spread over all classes
    probs = {i: np.array([0.34, 0.33, 0.33]) for i in uncertain}
    learner = FixedLearner(probs, default=np.array([0.98, 0.01, 0.01]))
    result = autoal.run(pool, test_df=test_df, learner=learner, strategy="least_confidence", batch_size=4,
                        n_rounds=1, initial_per_class=2, output_dir=tmp_path / "run", verbose=False)
    initial = set(json.loads(result.history["picked_ids"].iloc[0]))
    picked = set(json.loads(result.history["picked_ids"].iloc[1]))
    still_uncertain = set(uncertain) - initial
    assert len(still_uncertain) >= 4
    assert len(picked) == 4 and picked <= still_uncertain


def test_learner_is_trained_on_the_revealed_labels_only(images, tmp_path):
    learner = FixedLearner({})
    autoal.run(images, learner=learner, strategy="margin", batch_size=4, n_rounds=2, initial_per_class=1,
               output_dir=tmp_path / "run", verbose=False)
    assert [len(ids) for ids in learner.fitted_on] == [3, 7, 11]
    assert set(learner.fitted_on[0]) <= set(learner.fitted_on[1]) <= set(learner.fitted_on[2])


def test_stops_when_target_accuracy_is_reached(images, tmp_path):
    result = autoal.run(images, learner=TruthLearner(), strategy="margin", batch_size=5, n_rounds=5, initial_per_class=2,
                        target_accuracy=0.9, output_dir=tmp_path / "run", verbose=False)
    assert len(result.history) == 1 and result.final_accuracy == 1.0
    assert "target accuracy 0.9 reached" in result.summary["stop_reason"]


def test_stops_when_the_pool_is_empty_and_says_so(images, tmp_path, capsys):
    result = autoal.run(images, learner="fast", batch_size=20, n_rounds=10, initial_per_class=2,
                        output_dir=tmp_path / "run")
    assert result.history["n_pool"].iloc[-1] == 0
    assert result.summary["stop_reason"].startswith("pool exhausted")
    assert "examples left to label: taking all of them" in capsys.readouterr().out
    assert result.history["n_labeled"].iloc[-1] == 48  # 60 minus the 12 held out


def test_test_df_is_used_as_the_holdout(images, tmp_path):
    test_df = images.iloc[::4]
    result = autoal.run(images.drop(index=test_df.index), test_df=test_df, learner="fast", batch_size=5,
                        n_rounds=1, initial_per_class=2, output_dir=tmp_path / "run", verbose=False)
    assert result.summary["holdout"] == "test_df (15 rows)"
    assert result.summary["n_test"] == 15


class ListAnnotator(Annotator):
    """Answers from a dict id -> label; records what it was asked."""

    def __init__(self, answers, name="alice"):
        self.answers, self.name, self.asked = answers, name, []

    def annotate(self, examples):
        self.asked.append(list(examples.index))
        assert "label" not in examples.columns
        return [self.answers.get(i) for i in examples.index]


def real_mode(images, n_labelled=4):
    df = images.copy()
    df.loc[df.groupby("label").cumcount() >= n_labelled, "label"] = np.nan
    return df


def test_real_mode_asks_the_annotator_and_stores_labels(images, tmp_path):
    df = real_mode(images)
    truth = images["label"].to_dict()
    alice = ListAnnotator(truth)
    result = autoal.run(df, annotators=alice, learner="fast", batch_size=5, n_rounds=2,
                        output_dir=tmp_path / "run", verbose=False)
    assert result.summary["mode"] == "real"
    assert [len(a) for a in alice.asked] == [5, 5]
    assert result.history["n_labeled"].tolist() == [9, 14, 19]  # 12 given minus 3 held out, then +5 per round
    stored = pd.read_csv(tmp_path / "run" / "labels.csv")
    assert (stored["annotator"] == "alice").sum() == 10
    assert (stored["annotator"] == "given").sum() == 9


def test_skipped_examples_go_to_the_next_annotator_or_stay_in_the_pool(images, tmp_path):
    df = real_mode(images)
    truth = images["label"].to_dict()
    lazy = ListAnnotator({}, name="lazy")
    busy = ListAnnotator(truth, name="busy")
    result = autoal.run(df, annotators=[lazy, busy], learner="fast", relabel=False, batch_size=6, n_rounds=1,
                        output_dir=tmp_path / "run", verbose=False)
    assert result.history["n_labeled"].tolist() == [9, 15]
    assert set(result.labels.loc[result.labels["round"] == 1, "annotator"]) == {"busy"}
    nobody = ListAnnotator({}, name="nobody")
    result = autoal.run(df, annotators=nobody, learner="fast", batch_size=6, n_rounds=1,
                        output_dir=tmp_path / "run2", verbose=False)
    assert result.history["n_labeled"].tolist() == [9, 9]


def test_bad_annotator_answer_keeps_the_valid_ones(images, tmp_path):
    df = real_mode(images)
    answers = {i: ("purple" if k == 0 else images.at[i, "label"]) for k, i in enumerate(df.index[df.label.isna()])}
    with pytest.raises(AnnotationError, match=r"not classes of this run: .*'purple'.*valid classes: 'blue', 'green', 'red'"):
        autoal.run(df, annotators=ListAnnotator(answers), learner=TruthLearner(p=0.5), strategy="random",
                   batch_size=48, n_rounds=1, output_dir=tmp_path / "run", verbose=False)
    stored = stored_labels(tmp_path / "run")
    assert (stored["annotator"] == "alice").sum() == 47


def test_annotator_answer_count_must_match(images, tmp_path):
    with pytest.raises(AnnotationError, match="returned 1 labels for 5 examples"):
        autoal.run(real_mode(images), annotators=lambda ex: ["red"], learner="fast", batch_size=5, n_rounds=1,
                   output_dir=tmp_path / "run", verbose=False)


def test_annotator_numbers_and_strings_are_matched_to_classes(tmp_path):
    from conftest import write_images

    df = write_images(tmp_path / "img", 10)
    df["label"] = df["label"].map({"red": 0, "green": 1, "blue": 2})
    df.loc[df.groupby("label").cumcount() >= 4, "label"] = np.nan
    result = autoal.run(df, annotators=lambda ex: [" 1 "] * len(ex), learner="fast", batch_size=3, n_rounds=1,
                        output_dir=tmp_path / "run", verbose=False)
    assert result.labels.loc[result.labels["round"] == 1, "label"].tolist() == [1, 1, 1]


def test_duplicate_annotator_names_are_rejected(images, tmp_path):
    with pytest.raises(InputError, match="annotator names must be unique"):
        autoal.run(real_mode(images), annotators=[ListAnnotator({}), ListAnnotator({})], learner="fast",
                   output_dir=tmp_path / "run", verbose=False)


def test_same_seed_same_run(images, tmp_path):
    a = autoal.run(images, learner="fast", strategy="random", batch_size=5, n_rounds=2, initial_per_class=2,
                   output_dir=tmp_path / "a", verbose=False, random_state=7)
    b = autoal.run(images, learner="fast", strategy="random", batch_size=5, n_rounds=2, initial_per_class=2,
                   output_dir=tmp_path / "b", verbose=False, random_state=7)
    assert a.history["picked_ids"].tolist() == b.history["picked_ids"].tolist()
    assert a.history["accuracy"].tolist() == b.history["accuracy"].tolist()


def test_default_output_dir_is_a_new_temporary_folder(images, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = autoal.run(images, learner="fast", batch_size=5, n_rounds=1, initial_per_class=2, verbose=False)
    assert list(tmp_path.iterdir()) == [tmp_path / "images"]
    assert (result.output_dir / "history.csv").exists()


class SkipThenStop(Annotator):
    """Skips the first example it is asked about, answers the next, then stops (as a person pressing s, a label, q)."""

    def __init__(self, truth, name="pat"):
        self.truth, self.name, self.asked = truth, name, []

    def annotate(self, examples):
        for k, i in enumerate(examples.index):
            self.asked.append(i)
            if k == 0:
                yield None
            elif k == 1:
                yield self.truth[i]
            else:
                raise autoal.StopAnnotation("pat pressed q")


def test_a_skip_is_remembered_across_resume(images, tmp_path):
    df = real_mode(images)
    truth = images["label"].to_dict()
    pat = SkipThenStop(truth)
    first = autoal.run(df, annotators=pat, learner="fast", strategy="margin", batch_size=4, n_rounds=1,
                       output_dir=tmp_path / "run", verbose=False)
    assert "stopped by an annotator" in first.summary["stop_reason"]
    skipped, answered = pat.asked[0], pat.asked[1]
    again = ListAnnotator(truth, name="pat")
    result = autoal.resume(tmp_path / "run", annotators=again, verbose=False)
    assert skipped not in again.asked[0] and answered not in again.asked[0]
    assert sorted(again.asked[0]) == sorted(pat.asked[2:] + [i for i in json.loads(result.history["picked_ids"].iloc[1])
                                                             if i not in pat.asked])
    labels = stored_labels(tmp_path / "run")
    assert skipped not in set(labels["example_id"])


def test_more_answers_than_examples_are_refused(images, tmp_path):
    df = real_mode(images)
    with pytest.raises(AnnotationError, match="returned 6 labels for 5 examples.*None of these answers was stored"):
        autoal.run(df, annotators=lambda ex: ["red"] * (len(ex) + 1), learner="fast", strategy="margin", batch_size=5,
                   n_rounds=1, output_dir=tmp_path / "list", verbose=False)
    assert (stored_labels(tmp_path / "list")["round"] == 1).sum() == 0

    def generous(examples):
        yield from ["red"] * (len(examples) + 1)

    with pytest.raises(AnnotationError, match="gave more labels than the 5 examples.*first 5 answers are saved"):
        autoal.run(df, annotators=generous, learner="fast", strategy="margin", batch_size=5, n_rounds=1,
                   output_dir=tmp_path / "generator", verbose=False)
    assert (stored_labels(tmp_path / "generator")["round"] == 1).sum() == 5
