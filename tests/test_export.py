"""Labels out: ``autoal export-labels``, the organiser page's CSV downloads, and the people's files written
when a run pauses or a labelling server stops; every table checked against the store read with plain sqlite3."""

import io
import json

import numpy as np
import pandas as pd
import pytest
from conftest import stored_labels, write_images
from serving import answer_right, make_run, serve_in_process

import autoal
from autoal.annotation.annotators import ExternalAnnotator
from autoal.annotation.batch_files import export_batch, import_labels
from autoal.cli.commands import main
from autoal.results.export import csv_text, export_labels
from autoal.store.run_state import open_run
from autoal.server.signin import UNAUTHORISED


@pytest.fixture(scope="module")
def team_run(tmp_path_factory):
    """A finished simulation with three annotators of mixed accuracy and relabels (several labels per example)."""
    tmp = tmp_path_factory.mktemp("team")
    df = write_images(tmp / "images", 15)
    result = autoal.run(df, learner="fast", annotators=autoal.simulated_annotators(3, (0.6, 0.9), random_state=0),
                        batch_size=8, n_rounds=3, output_dir=tmp / "run", verbose=False)
    assert (result.consensus["n_annotations"] > 1).any()  # the consensus is CROWDLAB's, not one label each
    return tmp / "run", df, result


def test_export_labels_writes_every_annotation_as_stored(team_run, tmp_path, capsys):
    run_dir, df, _ = team_run
    assert main(["export-labels", str(run_dir), "--out", str(tmp_path / "all.csv")]) == 0
    stored = stored_labels(run_dir)
    assert f"wrote {tmp_path / 'all.csv'}: {len(stored)} annotations" in capsys.readouterr().out
    exported = pd.read_csv(tmp_path / "all.csv")
    assert list(exported.columns) == ["example_id", "annotator", "label", "round", "timestamp", "image_path"]
    pd.testing.assert_frame_equal(exported[["example_id", "annotator", "label", "round"]], stored)
    assert exported["image_path"].tolist() == df.loc[exported["example_id"], "image_path"].tolist()
    assert exported["timestamp"].between(1.7e9, 4e9).all()  # seconds since the epoch


def test_consensus_export_is_the_runs_own_consensus(team_run, tmp_path, capsys):
    run_dir, df, result = team_run
    assert main(["export-labels", str(run_dir), "--consensus", "--out", str(tmp_path / "c.csv"),
                 "--annotators", str(tmp_path / "a.csv")]) == 0
    printed = capsys.readouterr().out
    exported = pd.read_csv(tmp_path / "c.csv")
    assert f"{len(exported)} labelled examples" in printed and "3 annotators" in printed
    assert list(exported.columns) == ["example_id", "label", "quality", "n_annotations", "method", "image_path"]
    counts = stored_labels(run_dir).groupby("example_id").size()
    assert sorted(exported["example_id"]) == sorted(counts.index)  # one row per labelled example
    assert exported.set_index("example_id")["n_annotations"].to_dict() == counts.to_dict()
    expected = result.consensus.loc[exported["example_id"]]
    assert exported["label"].tolist() == expected["label"].tolist()
    np.testing.assert_allclose(exported["quality"], expected["quality"], rtol=1e-9)
    assert (exported["method"] == "crowdlab").all()
    annotators = pd.read_csv(tmp_path / "a.csv", index_col="annotator")
    np.testing.assert_allclose(annotators["estimated_quality"], result.annotator_quality["estimated_quality"], rtol=1e-9)
    assert annotators["n_labels"].to_dict() == stored_labels(run_dir).groupby("annotator").size().to_dict()


def test_export_labels_default_paths_and_bad_paths(team_run, tmp_path, capsys):
    run_dir, _, _ = team_run
    written = export_labels(run_dir, consensus=True)
    assert written["labels"][0] == run_dir / "consensus.csv" and (run_dir / "consensus.csv").is_file()
    assert main(["export-labels", str(run_dir), "--out", str(tmp_path / "missing" / "x.csv")]) == 2
    assert "the folder of" in capsys.readouterr().err
    assert main(["export-labels", str(tmp_path), "--out", str(tmp_path / "x.csv")]) == 2
    assert "is not an autoal run folder (no run.sqlite)" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


@pytest.fixture
def paused_run(images, tmp_path):
    """Real mode with two file annotators, paused in round 1 waiting for them."""
    df = images.copy()
    df.loc[df.groupby("label").cumcount() >= 4, "label"] = np.nan
    out = tmp_path / "run"
    result = autoal.run(df, learner="fast", annotators=[ExternalAnnotator("alice"), ExternalAnnotator("bob")],
                        relabel=False, batch_size=6, n_rounds=2, output_dir=out, verbose=False)
    return out, images["label"], result


def test_a_paused_run_writes_the_peoples_files(paused_run):
    out, truth, result = paused_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["paused"] is True and "round 1 waits for labels from alice" in summary["stop_reason"]
    assert (out / "learning_curve.png").stat().st_size > 0 and (out / "annotators.csv").is_file()
    assert len(pd.read_csv(out / "labels.csv")) == len(stored_labels(out)) == 9  # the given labels (3 more are the holdout)
    path = export_batch(out, "alice")
    frame = pd.read_csv(path)
    frame["label"] = [truth[i] for i in frame["example_id"]]
    frame.to_csv(path, index=False)
    assert import_labels(out, path, "alice").stored == 3
    autoal.resume(out, verbose=False)  # still waits for bob: pauses again, and rewrites the files
    labels = pd.read_csv(out / "labels.csv")
    pd.testing.assert_frame_equal(labels[["example_id", "annotator", "label", "round"]], stored_labels(out))
    assert (labels["annotator"] == "alice").sum() == 3


def test_consensus_without_stored_probabilities_is_the_majority_vote(paused_run):
    out, truth, _ = paused_run
    state = open_run(out)
    try:  # alice disagrees with a given label; no out-of-sample probabilities are stored for the given examples
        position = int(state.positions([state.data.initial_ids[0]])[0])
        given = state.data.frame[state.label].iloc[position]
        other = next(c for c in state.classes if c != given)
        state.add_label(position, "alice", state.class_index[other], 1)
        example_id = state.ids_of([position])[0]
    finally:
        state.close()
    text, rows = csv_text(out, "consensus")
    table = pd.read_csv(io.StringIO(text)).set_index("example_id")
    assert rows == 9 and (table["method"] == "majority_vote").all()
    assert table.loc[example_id, "n_annotations"] == 2 and table.loc[example_id, "quality"] == 0.5


def test_a_stopping_server_writes_the_peoples_files(tmp_path):
    run_dir, truth, session = make_run(tmp_path, relabel=False)
    served = serve_in_process(run_dir, truth, session)
    try:
        served.driver.wait_for(lambda s: s["phase"] == "labelling" and s["round"] == 1, 60)
        alice = served.client("alice")
        item = alice.get("/api/queue").get_json()["item"]
        assert alice.post("/api/answer", json={"example_id": item["example_id"],
                                               "label": truth[item["example_id"]]}).status_code == 200
    finally:
        served.driver.stop()
    labels = pd.read_csv(run_dir / "labels.csv")
    pd.testing.assert_frame_equal(labels[["example_id", "annotator", "label", "round"]], stored_labels(run_dir))
    assert (labels["annotator"] == "alice").sum() == 1
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["paused"] is True and summary["n_rounds_done"] == 0
    assert summary["stop_reason"] == (f"the labelling server stopped (`autoal serve {run_dir}` goes on); round 1 waits "
                                      "for answers from alice (2 open), bob (3 open)")
    assert (run_dir / "learning_curve.png").is_file() and (run_dir / "annotators.csv").is_file()


def test_the_organiser_downloads_labels_and_an_annotator_cannot(tmp_path):
    run_dir, truth, session = make_run(tmp_path, relabel=False)
    served = serve_in_process(run_dir, truth, session)
    try:
        served.driver.wait_for(lambda s: s["phase"] == "labelling" and s["round"] == 1, 60)
        organiser, alice = served.client("organiser"), served.client("alice")
        item = answer_right(alice, truth)
        page = organiser.get("/organiser").get_data(as_text=True)
        for link in ("/organiser/labels.csv", "/organiser/consensus.csv", "/organiser/annotators.csv"):
            assert f'href="{link}"' in page
        response = organiser.get("/organiser/labels.csv")
        assert response.status_code == 200 and response.mimetype == "text/csv"
        assert response.headers["Content-Disposition"] == 'attachment; filename="run-labels.csv"'
        labels = pd.read_csv(io.BytesIO(response.data))
        pd.testing.assert_frame_equal(labels[["example_id", "annotator", "label", "round"]], stored_labels(run_dir))
        consensus = pd.read_csv(io.BytesIO(organiser.get("/organiser/consensus.csv").data))
        assert sorted(consensus["example_id"]) == sorted(labels["example_id"].unique())
        assert consensus.set_index("example_id").loc[int(item["example_id"]), "label"] == truth[item["example_id"]]
        annotators = pd.read_csv(io.BytesIO(organiser.get("/organiser/annotators.csv").data), index_col="annotator")
        assert annotators.loc["alice", "n_labels"] == 1 and annotators.loc["bob", "n_labels"] == 0
        for url in ("/organiser/labels.csv", "/organiser/consensus.csv", "/organiser/annotators.csv"):
            cookie = alice.get(url)  # an annotator's cookie is not the organiser's
            assert cookie.status_code == 401 and cookie.get_data(as_text=True) == UNAUTHORISED
            token = alice.get(f"{url}?token={served.tokens['alice']}")  # an annotator's link
            assert token.status_code == 403 and "this needs the organiser's link" in token.get_json()["error"]
            assert b"example_id" not in token.data
            anonymous = served.app.test_client().get(url)
            assert anonymous.status_code == 401 and anonymous.get_data(as_text=True) == UNAUTHORISED
        assert organiser.get("/organiser/secrets.csv").status_code == 404
    finally:
        served.driver.stop()
