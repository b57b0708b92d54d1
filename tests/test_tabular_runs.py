"""Active learning on a table without images (``image_col=None``): real TabularPredictor rounds through every
strategy, batch rule, the cold start, several annotators, files, the terminal, resume and the CLI."""

import io
import json

import numpy as np
import pandas as pd
import pytest
from conftest import stored_labels
from tables import CLASSES, QUICK_TABULAR, write_table

import autoal
from autoal.annotation.annotators import Annotator
from autoal.errors import InputError
from autoal.learners import TabularLearner

RUN = dict(image_col=None, learner_options=QUICK_TABULAR, batch_size=6, verbose=False)


def picks(result):
    return [json.loads(ids) for ids in result.history["picked_ids"]]


def test_a_table_runs_with_the_tabular_learner_by_default(tmp_path, capsys):
    df = write_table(20)
    result = autoal.run(df, image_col=None, batch_size=6, n_rounds=3, initial_per_class=2, output_dir=tmp_path / "run")
    assert isinstance(result.learner, TabularLearner)
    out = capsys.readouterr().out
    assert "features besides the label: numeric 'x', 'z'; categorical 'shade'; text 'note'" in out
    assert "'sample_id' (an identifier: a distinct whole number in every row)" in out
    h = result.history
    assert h["n_labeled"].tolist() == [6, 12, 18, 24]
    assert result.final_accuracy >= 0.9, "x decides the class"
    settings = json.loads((tmp_path / "run" / "settings.json").read_text())
    assert settings["learner"] == "tabular" and settings["image_col"] is None
    assert [c[0] for c in settings["features"]["numeric"]] == ["x", "z"]
    assert settings["features"]["excluded"][0][0] == "sample_id"
    assert result.summary["settings"]["features"] == settings["features"]


@pytest.mark.parametrize("strategy, batch, initial", [
    ("random", "topk", "random"), ("least_confidence", "kmeans", "random"), ("margin", "topk", "kmeans"),
    ("entropy", "kmeans", "random"), ("activelab", "topk", "random"), ("auto", "auto", "auto")])
def test_every_strategy_and_batch_rule_runs_on_a_table(tmp_path, strategy, batch, initial):
    result = autoal.run(write_table(15), strategy=strategy, batch=batch, initial=initial, n_rounds=2,
                        initial_per_class=2, output_dir=tmp_path / "run", **RUN)
    h = result.history
    assert h["n_labeled"].tolist() == [6, 12, 18]
    chosen = [i for p in picks(result) for i in p]
    assert len(chosen) == len(set(chosen)) == 18
    expected_rule = "kmeans" if batch in ("kmeans", "auto") else "topk"
    assert set(h["batch_rule"].iloc[1:]) == {expected_rule}
    assert (h["predict_seconds"].iloc[1:] > 0).all() and h["accuracy"].between(0, 1).all()


def test_margin_on_a_table_asks_about_the_examples_between_classes(tmp_path):
    df = write_table(30)
    result = autoal.run(df, strategy="margin", batch="topk", n_rounds=1, initial_per_class=3,
                        output_dir=tmp_path / "run", **RUN)
    asked = picks(result)[1]
    distance = (df.loc[asked, "x"] / 2.0 - (df.loc[asked, "x"] / 2.0).round()).abs()
    overall = (df["x"] / 2.0 - (df["x"] / 2.0).round()).abs()
    assert distance.mean() > overall.mean(), "uncertain examples lie between the class centres"


class Truth(Annotator):
    """Answers with the true class of ``df``; raises StopAnnotation after ``stop_after`` answers in all."""

    def __init__(self, truth, name="ana", stop_after=None):
        self.truth, self.name, self.stop_after, self.given = truth, name, stop_after, 0

    def annotate(self, examples):
        for i in examples.index:
            if self.stop_after is not None and self.given >= self.stop_after:
                raise autoal.StopAnnotation(f"{self.name} stopped")
            self.given += 1
            yield self.truth[i]


def unlabelled(df, keep_per_class=0):
    out = df.copy()
    out.loc[out.groupby("label").cumcount() >= keep_per_class, "label"] = np.nan
    return out


def test_cold_start_on_a_table_asks_for_typical_rows_then_learns(tmp_path):
    df = write_table(20)
    truth = df["label"].to_dict()
    result = autoal.run(unlabelled(df), annotators=Truth(truth), classes=list(CLASSES), n_rounds=2,
                        holdout_fraction=0, output_dir=tmp_path / "run", **RUN)
    first = picks(result)[0]
    assert len(first) == 6
    assert len({truth[i] for i in first}) == 3, "k-means on the encoded columns covers every class"
    assert result.history["n_labeled"].tolist() == [6, 12, 18]


def test_several_annotators_relabel_on_a_table(tmp_path):
    df = write_table(20)
    annotators = autoal.simulated_annotators(3, accuracy=(0.6, 0.95), random_state=0)
    result = autoal.run(df, annotators=annotators, strategy="activelab", batch="topk", initial="random", n_rounds=3,
                        initial_per_class=3, folds=3, relabel={"min_multi_labelled": 0}, output_dir=tmp_path / "run",
                        **{k: v for k, v in RUN.items() if k != "batch_size"}, batch_size=8)
    h = result.history
    assert h["oos"].iloc[1:].eq("cross_val").all(), "several annotators: K-fold TabularPredictor models every round"
    assert h["n_relabels"].sum() > 0 and h["n_multi_labeled"].iloc[-1] > 0
    assert h["consensus_accuracy"].between(0, 1).all()
    quality = result.annotator_quality
    assert set(quality.index) == {"annotator_1", "annotator_2", "annotator_3"}
    assert quality["n_labels"].sum() == h["n_annotations"].iloc[-1]


def test_a_stopped_table_run_resumes_to_the_same_end_as_an_uninterrupted_one(tmp_path):
    df = write_table(15)
    truth = df["label"].to_dict()
    options = dict(strategy="margin", batch="kmeans", n_rounds=3, **RUN)
    whole = autoal.run(unlabelled(df, 3), annotators=Truth(truth), output_dir=tmp_path / "whole", **options)
    stopped = autoal.run(unlabelled(df, 3), annotators=Truth(truth, stop_after=8), output_dir=tmp_path / "cut", **options)
    assert "stopped by an annotator" in stopped.summary["stop_reason"]
    resumed = autoal.resume(tmp_path / "cut", annotators=Truth(truth))
    assert picks(resumed) == picks(whole)
    pd.testing.assert_frame_equal(stored_labels(tmp_path / "cut").drop(columns="round"),
                                  stored_labels(tmp_path / "whole").drop(columns="round"))
    np.testing.assert_allclose(resumed.history["accuracy"], whole.history["accuracy"])


def test_files_round_trip_on_a_table(tmp_path):
    from autoal.annotation.batch_files import export_batch, import_labels

    df = write_table(10)
    result = autoal.run(unlabelled(df, 3), annotators=[autoal.ExternalAnnotator("bo")], n_rounds=1,
                        output_dir=tmp_path / "run", **RUN)
    assert "waits for labels from bo (6 of 6 pending)" in result.summary["stop_reason"]
    path = export_batch(tmp_path / "run", "bo")
    batch = pd.read_csv(path)
    assert list(batch.columns) == ["example_id", "x", "z", "shade", "note", "sample_id", "label"]
    assert batch["label"].isna().all()
    np.testing.assert_allclose(batch["x"], df.loc[batch["example_id"], "x"])
    batch["label"] = [df.at[i, "label"] for i in batch["example_id"]]
    batch.to_csv(path, index=False)
    report = import_labels(tmp_path / "run", path, "bo")
    assert report.stored == 6 and report.rejected == [] and report.ignored_columns == []
    resumed = autoal.resume(tmp_path / "run")
    assert resumed.history["n_labeled"].tolist() == [6, 12]


def test_the_terminal_shows_a_row_s_values_when_there_is_no_image(tmp_path):
    from autoal.annotation.terminal import TerminalAnnotator

    df = write_table(10)
    out = io.StringIO()
    person = TerminalAnnotator("ana", input=io.StringIO("red\n" * 3), output=out)
    autoal.run(unlabelled(df, 3), annotators=person, n_rounds=1, output_dir=tmp_path / "run",
               **{**RUN, "batch_size": 3})
    shown = out.getvalue()
    assert "[1/3] example 'row-" in shown and "  x         : " in shown and "  shade     : shade-" in shown
    assert "  note      : " in shown and "image" not in shown and "xdg-open" not in shown


def test_image_learners_refuse_a_table_and_say_what_to_use(tmp_path):
    df = write_table(5)
    for learner in ("embeddings", "fast"):
        with pytest.raises(InputError, match=rf"the {learner} learner .*image_col=None.*learner='tabular'"):
            autoal.run(df, image_col=None, learner=learner, output_dir=tmp_path / learner, verbose=False)
        assert not (tmp_path / learner / "run.sqlite").exists(), "refused before the run folder is made"


def test_a_table_without_feature_columns_is_refused(tmp_path):
    df = write_table(10)[["label", "sample_id"]]
    with pytest.raises(InputError, match="tabular learner needs feature columns"):
        autoal.run(df, image_col=None, output_dir=tmp_path / "run", verbose=False)


def test_a_missing_image_column_mentions_image_col_none(tmp_path):
    with pytest.raises(InputError, match=r"no column 'image_path'.*for a table without images pass image_col=None"):
        autoal.run(write_table(5), output_dir=tmp_path / "run", verbose=False)


def test_the_cli_runs_and_resumes_a_csv_of_features(tmp_path, capsys):
    from autoal.cli.commands import main

    df = write_table(10)
    df.to_csv(tmp_path / "table.csv", index=False)
    args = ["run", str(tmp_path / "table.csv"), "--no-images", "--batch-size", "5", "--rounds", "1",
            "--init-per-class", "2", "--feature-cols", "x,z,shade:categorical", "--out", str(tmp_path / "run")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "features besides the label: numeric 'x', 'z'; categorical 'shade'" in out
    assert "'note' (not in feature_cols)" in out
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert history["n_labeled"].tolist() == [6, 11]
    assert main(["resume", str(tmp_path / "run"), "--rounds", "2", "--quiet"]) == 0
    assert pd.read_csv(tmp_path / "run" / "history.csv")["n_labeled"].tolist() == [6, 11, 16]


def test_the_cli_says_how_to_run_a_table_and_refuses_bad_feature_cols(tmp_path, capsys):
    from autoal.cli.commands import main

    write_table(10).to_csv(tmp_path / "table.csv", index=False)
    assert main(["run", str(tmp_path / "table.csv"), "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "no column 'image_path'" in err and "(a table without images: CLI --no-images" in err
    assert main(["run", str(tmp_path / "table.csv"), "--no-images", "--feature-cols", "x:number",
                 "--out", str(tmp_path / "b")]) == 2
    assert "the kind of --feature-cols column 'x' must be one of 'numeric', 'categorical', 'text', got 'number'; write COLUMN:KIND" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "table.csv"), "--no-images", "--feature-cols", "x,height",
                 "--out", str(tmp_path / "c")]) == 2
    assert "--feature-cols names columns that the manifest does not have: 'height'" in capsys.readouterr().err
