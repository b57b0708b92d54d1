"""Several annotators: relabel selection, consensus, annotator quality, stopping and resuming."""

import io

import numpy as np
from conftest import FixedLearner, stored_labels

import autoal
from autoal.store.run_state import open_run
from autoal.annotation.terminal import TerminalAnnotator


def test_batches_mix_new_labels_and_relabels_and_never_reask_an_annotator(images, tmp_path):
    pool = autoal.simulated_annotators(3, (0.6, 0.9), random_state=1)
    result = autoal.run(images, learner="fast", annotators=pool, batch_size=6, n_rounds=6, initial_per_class=3,
                        output_dir=tmp_path / "run", verbose=False)
    h = result.history
    assert h["n_relabels"].sum() > 0 and h["n_new_labels"].iloc[1:].sum() > 0
    assert (h["n_new_labels"] + h["n_relabels"]).iloc[1:].le(6).all()
    labels = result.labels
    assert not labels.duplicated(["example_id", "annotator"]).any()
    snapshot = open_run(tmp_path / "run").snapshot()
    pairs = list(zip(snapshot.assigned_example.tolist(), snapshot.assigned_annotator.tolist()))
    assert len(pairs) == len(set(pairs)), "an annotator was asked about the same example twice"
    assert h["n_multi_labeled"].iloc[-1] > 0 and h["consensus_method"].iloc[-1] == "crowdlab"
    assert h["consensus_accuracy"].between(0, 1).all()
    quality = result.annotator_quality
    assert list(quality.index) == [a.name for a in pool]
    assert quality["true_accuracy"].notna().all() and quality["estimated_quality"].notna().all()
    assert set(result.consensus.columns) == {"label", "quality", "n_annotations"}
    assert (tmp_path / "run" / "annotators.csv").exists()


def test_relabel_false_only_asks_for_new_labels(images, tmp_path):
    result = autoal.run(images, learner="fast", annotators=autoal.simulated_annotators(3), relabel=False, batch_size=6,
                        n_rounds=3, initial_per_class=3, output_dir=tmp_path / "run", verbose=False)
    assert result.history["n_relabels"].sum() == 0
    assert result.history["n_labeled"].tolist() == [9, 15, 21, 27]


def test_examples_labelled_by_everyone_are_not_picked_again(images, tmp_path):
    small = images.groupby("label").head(4)
    test_df = images.drop(index=small.index)
    uncertain = FixedLearner({}, default=np.array([0.34, 0.33, 0.33]))
    result = autoal.run(small, test_df=test_df, learner=uncertain, strategy="activelab", annotators=autoal.simulated_annotators(2),
                        batch_size=5, n_rounds=20, initial_per_class=1, output_dir=tmp_path / "run", verbose=False)
    counts = result.labels.groupby("example_id").size()
    assert counts.max() <= 2 and len(counts) == 12 and (counts == 2).all()
    assert result.summary["stop_reason"].startswith("pool exhausted: every example has a label from every annotator")


def test_terminal_person_stops_and_resumes_without_losing_answers(images, tmp_path):
    df = images.copy()
    truth = df["label"].copy()
    df.loc[df.groupby("label").cumcount() >= 4, "label"] = np.nan
    out = tmp_path / "run"
    pending_ids = list(df.index[df["label"].isna()])
    first = TerminalAnnotator("me", input=io.StringIO("red\ngreen\nq\n"), output=io.StringIO())
    result = autoal.run(df, learner="fast", annotators=first, strategy="random", batch_size=5, n_rounds=2,
                        output_dir=out, verbose=False)
    assert "stopped by an annotator" in result.summary["stop_reason"]
    assert len(result.history) == 1
    stored = stored_labels(out)
    assert stored[stored["annotator"] == "me"]["label"].tolist() == ["red", "green"]
    answers = "\n".join(truth[i] for i in pending_ids) + "\n"
    second = TerminalAnnotator("me", input=io.StringIO(answers * 2), output=io.StringIO())
    result = autoal.resume(out, annotators=second, verbose=False)
    assert result.history["round"].tolist() == [0, 1, 2]
    mine = result.labels[result.labels["annotator"] == "me"]
    assert mine["label"].iloc[:2].tolist() == ["red", "green"] and len(mine) == 10
    assert result.history["n_labeled"].tolist() == [9, 14, 19]
