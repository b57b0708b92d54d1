"""Batch rules, cold start, the stable-predictions stop, pool subsampling and runs without a holdout, through run()."""

import json

import numpy as np
import pandas as pd
import pytest

import autoal
from autoal.errors import InputError
from conftest import ColourFeatureLearner, FixedLearner, TruthLearner, write_images


def picked(result, r):
    return json.loads(result.history["picked_ids"].iloc[r])


def test_kmeans_batches_use_the_learners_features_and_are_recorded(images, tmp_path):
    learner = ColourFeatureLearner(p=0.6)
    result = autoal.run(images, learner=learner, strategy="random", batch="kmeans", batch_size=6, n_rounds=2,
                        initial_per_class=2, output_dir=tmp_path / "run", verbose=False)
    assert learner.feature_calls_ == 2
    assert list(result.history["batch_rule"].iloc[1:]) == ["kmeans", "kmeans"]
    for r in (1, 2):
        ids = picked(result, r)
        assert len(ids) == 6 and len(set(ids)) == 6
    assert set(picked(result, 1)).isdisjoint(picked(result, 2))


def test_kmeans_batches_cover_the_classes_where_topk_takes_one(tmp_path):
    images = write_images(tmp_path / "img", 20, classes=("red", "green", "blue"))
    test_df = images.iloc[::5]
    pool = images.drop(index=test_df.index)
    # every red image is the most uncertain, so top-k takes only red ones
    probs = {i: np.array([0.34, 0.33, 0.33]) if "red" in p else np.array([0.6, 0.2, 0.2])
             for i, p in zip(pool.index, pool["image_path"])}

    class Learner(FixedLearner):
        embeddings = ColourFeatureLearner.embeddings

    runs = {}
    for rule in ("topk", "kmeans"):
        runs[rule] = autoal.run(pool, test_df=test_df, learner=Learner(probs), strategy="least_confidence", batch=rule,
                                batch_size=3, candidates_factor=10, n_rounds=1, initial_per_class=2,
                                output_dir=tmp_path / rule, verbose=False)
    colour = dict(zip(pool.index, pool["label"]))
    assert {colour[i] for i in picked(runs["topk"], 1)} == {"red"}
    assert {colour[i] for i in picked(runs["kmeans"], 1)} == {"red", "green", "blue"}


def test_auto_batch_rule_is_kmeans_with_embeddings_and_topk_without(images, tmp_path, monkeypatch):
    with_features = autoal.run(images, learner=ColourFeatureLearner(), batch_size=5, n_rounds=1, initial_per_class=2,
                               output_dir=tmp_path / "a", verbose=False)
    assert with_features.history["batch_rule"].iloc[1] == "kmeans"
    monkeypatch.setattr("autoal.vision.backbones.pretrained_available", lambda name="mobilenetv2_100": False)
    without = autoal.run(images, learner=TruthLearner(), batch_size=5, n_rounds=1, initial_per_class=2,
                         output_dir=tmp_path / "b", verbose=False)
    assert without.history["batch_rule"].iloc[1] == "topk"


def test_kmeans_initial_set_takes_typical_examples_of_each_cluster(tmp_path):
    images = write_images(tmp_path / "img", 15, classes=("red", "green", "blue", "grey"))
    result = autoal.run(images, learner=ColourFeatureLearner(), strategy="random", initial="kmeans", batch_size=4,
                        n_rounds=1, initial_per_class=1, output_dir=tmp_path / "run", verbose=False)
    first = picked(result, 0)
    assert len(first) == 4
    assert sorted(images.loc[first, "label"]) == ["blue", "green", "grey", "red"]  # one per colour cluster


def test_cold_start_from_no_labels_asks_for_typical_examples(tmp_path):
    images = write_images(tmp_path / "img", 12)
    truth = images["label"].copy()
    unlabelled = images.assign(label=np.nan)
    answers = lambda frame: [truth[i] for i in frame.index]
    result = autoal.run(unlabelled, test_df=write_images(tmp_path / "test", 3, seed=1), classes=["red", "green", "blue"],
                        learner=ColourFeatureLearner(), annotators=answers, initial="kmeans", batch_size=3,
                        n_rounds=1, output_dir=tmp_path / "run", verbose=False)
    assert result.history["n_labeled"].tolist() == [3, 6]
    assert sorted(images.loc[picked(result, 0), "label"]) == ["blue", "green", "red"]


def test_no_labels_without_cold_start_names_the_fix(tmp_path):
    images = write_images(tmp_path / "img", 5).assign(label=np.nan)
    with pytest.raises(InputError, match="initial='kmeans' and classes="):
        autoal.run(images, annotators=lambda f: ["red"] * len(f), initial="random", output_dir=tmp_path / "run",
                   verbose=False)
    with pytest.raises(InputError, match=r"pass classes=\[...\] to start from no labels"):
        autoal.run(images, annotators=lambda f: ["red"] * len(f), output_dir=tmp_path / "run2", verbose=False)


def test_auto_cold_start_only_when_real_mode_has_no_labels(tmp_path):
    images = write_images(tmp_path / "img", 10)
    truth = images["label"].copy()
    answers = lambda frame: [truth[i] for i in frame.index]
    test_df = write_images(tmp_path / "test", 3, seed=1)
    some = images.copy()
    some.loc[some.groupby("label").cumcount() >= 2, "label"] = np.nan
    given = autoal.run(some, test_df=test_df, learner=ColourFeatureLearner(), annotators=answers, batch_size=3,
                       n_rounds=1, output_dir=tmp_path / "given", verbose=False)
    assert given.history["n_labeled"].tolist() == [6, 9]  # round 0: the given labels only
    none = autoal.run(images.assign(label=np.nan), test_df=test_df, classes=["red", "green", "blue"],
                      learner=ColourFeatureLearner(), annotators=answers, batch_size=3, n_rounds=1,
                      output_dir=tmp_path / "none", verbose=False)
    assert none.history["n_labeled"].tolist() == [3, 6]  # round 0: a typical batch asked


def test_stable_predictions_stop_the_run_without_a_holdout(images, tmp_path):
    result = autoal.run(images, learner=TruthLearner(), strategy="margin", holdout_fraction=0, stop={"kappa": 0.99, "rounds": 2, "size": 20},
                        batch_size=3, n_rounds=10, initial_per_class=2, output_dir=tmp_path / "run", verbose=False)
    history = result.history
    assert history["accuracy"].isna().all()
    assert np.isnan(history["stop_kappa"].iloc[0]) and (history["stop_kappa"].iloc[1:] == 1.0).all()
    assert history["round"].tolist() == [0, 1, 2]  # TruthLearner never changes its mind: stops after 2 stable rounds
    assert "predictions stable" in result.summary["stop_reason"]


def test_report_only_stop_rule_records_kappa_but_runs_on(images, tmp_path):
    result = autoal.run(images, learner=TruthLearner(), strategy="margin", stop={"report_only": True, "size": 10}, batch_size=3, n_rounds=4,
                        initial_per_class=2, output_dir=tmp_path / "run", verbose=False)
    assert len(result.history) == 5 and (result.history["stop_kappa"].iloc[1:] == 1.0).all()


def test_changing_predictions_keep_the_run_going(images, tmp_path):
    class Fickle(TruthLearner):
        def fit(self, df):
            self.n_fits_ = getattr(self, "n_fits_", 0) + 1
            return self

        def predict_proba(self, df):
            out = super().predict_proba(df)
            return np.roll(out, self.n_fits_, axis=1)  # a different answer after every fit

    result = autoal.run(images, learner=Fickle(), strategy="margin", stop="stable", batch_size=3, n_rounds=4, initial_per_class=2,
                        output_dir=tmp_path / "run", verbose=False)
    assert len(result.history) == 5
    assert (result.history["stop_kappa"].iloc[1:] < 0.99).all()


def test_pool_subsample_scores_a_seeded_part_of_the_pool(images, tmp_path):
    result = autoal.run(images, learner=TruthLearner(), strategy="margin", pool_subsample=10, batch_size=4, n_rounds=2,
                        initial_per_class=2, output_dir=tmp_path / "run", verbose=False)
    assert result.history["n_scored"].iloc[1:].tolist() == [10, 10]
    again = autoal.run(images, learner=TruthLearner(), strategy="margin", pool_subsample=10, batch_size=4, n_rounds=2,
                       initial_per_class=2, output_dir=tmp_path / "again", verbose=False)
    assert picked(result, 2) == picked(again, 2)


@pytest.mark.parametrize("options, message", [
    ({"batch": "spread"}, "batch must be one of .*, got 'spread'"),
    ({"initial": "typical"}, "initial must be one of .*, got 'typical'"),
    ({"pool_subsample": 0}, "pool_subsample"),
    ({"holdout_fraction": 0, "target_accuracy": 0.9}, "target_accuracy needs a holdout"),
    ({"holdout_fraction": 1.0}, "holdout_fraction"),
    ({"stop": "early"}, "unknown stop rule"),
])
def test_bad_rule_arguments_are_named(images, tmp_path, options, message):
    with pytest.raises(InputError, match=message):
        autoal.run(images, learner=TruthLearner(), output_dir=tmp_path / "run", verbose=False, **options)


def test_resumed_run_keeps_its_rules(images, tmp_path):
    kwargs = dict(learner=ColourFeatureLearner(), strategy="random", batch="kmeans", stop={"report_only": True, "size": 10},
                  batch_size=3, initial_per_class=2, verbose=False)
    autoal.run(images, n_rounds=1, output_dir=tmp_path / "run", **kwargs)
    result = autoal.resume(tmp_path / "run", learner=ColourFeatureLearner(), n_rounds=2)
    straight = autoal.run(images, n_rounds=2, output_dir=tmp_path / "straight", **kwargs)
    assert result.history["batch_rule"].iloc[2] == "kmeans"
    assert result.history["picked_ids"].tolist() == straight.history["picked_ids"].tolist()
    np.testing.assert_array_equal(result.history["stop_kappa"], straight.history["stop_kappa"])
    assert pd.notna(result.history["stop_kappa"].iloc[2])


@pytest.mark.ray
def test_ray_scoring_picks_what_single_process_scoring_picks(images, tmp_path):
    kwargs = dict(learner="fast", strategy="margin", batch="topk", batch_size=5, n_rounds=2, initial_per_class=2,
                  verbose=False)
    local = autoal.run(images, output_dir=tmp_path / "local", **kwargs)
    sharded = autoal.run(images, output_dir=tmp_path / "ray", scoring=autoal.rounds.pool_prediction.RayScorer(num_workers=2), **kwargs)
    assert [picked(sharded, r) for r in (1, 2)] == [picked(local, r) for r in (1, 2)]
    assert sharded.history["scoring_workers"].iloc[1:].tolist() == [2, 2]


def test_unknown_scoring_is_named_before_anything_is_written(images, tmp_path):
    with pytest.raises(InputError, match="unknown scoring"):
        autoal.run(images, learner="fast", scoring=42, output_dir=tmp_path / "run", verbose=False)
    assert not (tmp_path / "run").exists()


def assert_coverage_then_kmeans(history, *, n_classes):
    """Rounds picked while fewer than 5 labels a class were in (at least two) are coverage batches, the later ones
    (at least one) k-means batches; returns which rounds were coverage rounds."""
    from autoal.query.cold_start import COVERAGE_LABELS_PER_CLASS

    rules = history["batch_rule"].iloc[1:]  # round 0 is the initial set
    few = history["n_labeled"].shift(1).iloc[1:] < COVERAGE_LABELS_PER_CLASS * n_classes  # labels when picked
    assert (rules[few] == "coverage").all() and few.sum() >= 2
    assert (rules[~few] == "kmeans").all() and (~few).sum() >= 1
    return few


def test_coverage_first_batches_cover_the_pool_until_five_labels_a_class_then_follow_the_scores(tmp_path):
    from conftest import write_images

    images = write_images(tmp_path / "img", 12)
    result = autoal.run(images, learner="fast", strategy="margin", batch="coverage-first", initial="coverage",
                        batch_size=3, n_rounds=5, initial_per_class=1, output_dir=tmp_path / "run", verbose=False)
    assert_coverage_then_kmeans(result.history.set_index("round"), n_classes=3)


def test_coverage_first_batches_with_several_annotators_cover_the_pool_then_follow_activelab(tmp_path):
    from conftest import write_images

    images = write_images(tmp_path / "img", 12)
    team = [autoal.SimulatedAnnotator(name=f"a{i}", accuracy=0.9, random_state=i) for i in range(3)]
    result = autoal.run(images, learner="fast", strategy="activelab", annotators=team, batch="coverage-first",
                        initial="coverage", batch_size=3, n_rounds=5, initial_per_class=1,
                        output_dir=tmp_path / "run", verbose=False)
    history = result.history.set_index("round")
    few = assert_coverage_then_kmeans(history, n_classes=3)
    assert (history["relabel_share"].iloc[1:][few] == 0).all(), "coverage batches ask for new examples only"
