"""The labelling server at the edges of a run: files written at stop, more rounds for a finished run, what the
organiser page shows while a long step runs and after the stop, and what annotators are told."""

from __future__ import annotations

import json
import re

import pandas as pd
from serving import answer_right, make_run, serve_in_process, train_round_zero

from autoal.cli.commands import build_parser
from autoal.common.progress import task
from autoal.results.export import export_labels
from autoal.server.curve import curve_svg


def test_files_written_at_stop_hold_answers_given_after_the_run_finished(tmp_path):
    run_dir, truth, session = make_run(tmp_path, relabel=False, n_rounds=1)
    served = serve_in_process(run_dir, truth, session)
    try:
        served.driver.wait_for(lambda s: s["phase"] == "labelling" and s["round"] == 1, 60)
        alice, organiser = served.client("alice"), served.client("organiser")
        assert answer_right(alice, truth) is not None
        assert organiser.post("/api/train", json={}).status_code == 202
        served.driver.wait_for(lambda s: s["phase"] == "stopped", 60)
        late = 0
        while answer_right(alice, truth) is not None:  # the last batch's open examples, answered after the end
            late += 1
        assert late >= 1
        panel = organiser.get("/organiser/panel").get_data(as_text=True)
        assert "Still pending this round" not in panel and "After the stop" in panel
    finally:
        served.driver.stop()
    written = pd.read_csv(run_dir / "labels.csv")
    exported = pd.read_csv(export_labels(run_dir, tmp_path / "exported.csv")["labels"][0])
    assert len(written) == len(exported) and written["example_id"].tolist() == exported["example_id"].tolist()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["n_annotations"] == len(exported) and summary["paused"] is False
    assert summary["stop_reason"] == "1 round done"
    annotators = pd.read_csv(run_dir / "annotators.csv", index_col=0)
    assert annotators.loc["alice", "n_labels"] == (exported["annotator"] == "alice").sum()


def test_serve_with_rounds_on_a_finished_run_goes_on_to_the_new_total(tmp_path):
    from autoal.cli.serve import _session

    run_dir, truth, session = make_run(tmp_path, relabel=False, n_rounds=1)
    train_round_zero(session)
    again = _session(build_parser().parse_args(["serve", str(run_dir)]))
    assert again.config.n_rounds == 1 and again.stop_reason() is None  # round 1 still to do
    again.state.close()
    more = _session(build_parser().parse_args(["serve", str(run_dir), "--rounds", "7"]))
    assert more.config.n_rounds == 7 and more.settings["n_rounds"] == 7
    more.state.close()


def test_the_organiser_page_shows_the_long_step_in_progress_and_train_now_follows_the_phase(tmp_path):
    run_dir, truth, session = make_run(tmp_path, relabel=False, n_rounds=1)
    served = serve_in_process(run_dir, truth, session)
    try:
        served.driver.wait_for(lambda s: s["phase"] == "labelling" and s["round"] == 1, 60)
        organiser = served.client("organiser")
        page = organiser.get("/organiser").get_data(as_text=True)
        assert re.search(r'<button id="train" class="primary" type="button" >', page), "enabled while labelling"
        with task("embedding images with mobilenetv2_100", total=3000, unit="image") as step:
            step.advance(1234)
            panel = organiser.get("/organiser/panel").get_data(as_text=True)
        assert "embedding images with mobilenetv2_100: 1,234 of 3,000 images" in panel
        assert 'id="progress"' not in organiser.get("/organiser/panel").get_data(as_text=True), "gone when it ends"
        served.driver.stop()
        served.driver.wait_for(lambda s: not served.driver._thread.is_alive(), 30)
        served.driver._set(phase="stopped", stop_reason="1 round done", message="the run has stopped: 1 round done")
        panel = organiser.get("/organiser/panel").get_data(as_text=True)
        assert 'data-can-train="false"' in panel
        assert re.search(r'<button id="train"[^>]*disabled', organiser.get("/organiser").get_data(as_text=True))
    finally:
        served.driver.stop()


def test_annotators_are_told_what_the_model_is_doing_and_a_newcomer_is_not_told_they_are_done(tmp_path):
    run_dir, truth, session = make_run(tmp_path, relabel=False, n_rounds=3)
    served = serve_in_process(run_dir, truth, session)
    try:
        served.driver.wait_for(lambda s: s["phase"] == "labelling" and s["round"] == 1, 60)
        organiser = served.client("organiser")
        link = organiser.post("/api/annotators", json={"name": "carol"}).get_json()["link"]
        carol = served.app.test_client()
        state = carol.get("/api/queue?token=" + link.split("token=")[1]).get_json()
        assert state["item"] is None and "no examples yet" in state["message"] and "done" not in state["message"]
        served.driver.stop()  # its thread ends, so that no step of it sets the phase back meanwhile
        served.driver._set(phase="training", round=1)
        with task("embedding images with tf_efficientnet_lite0", total=300, unit="image") as step:
            step.advance(12)
            message = carol.get("/api/queue").get_json()["message"]
        assert "the model is training (round 1). Now: embedding images with tf_efficientnet_lite0: 12 of 300 images" \
            in message
    finally:
        served.driver.stop()


def test_undoing_an_answer_a_round_trained_on_says_what_it_changes(tmp_path):
    run_dir, truth, session = make_run(tmp_path, relabel=False, n_rounds=3)
    served = serve_in_process(run_dir, truth, session)
    try:
        served.driver.wait_for(lambda s: s["phase"] == "labelling" and s["round"] == 1, 60)
        alice, organiser = served.client("alice"), served.client("organiser")
        item = answer_right(alice, truth)
        assert organiser.post("/api/train", json={}).status_code == 202
        served.driver.wait_for(lambda s: s["phase"] == "labelling" and s["round"] == 2, 60)
        undone = alice.post("/api/undo", json={}).get_json()["undone"]
        assert undone["example_id"] == item["example_id"] and undone["trained_round"] == 1
        assert "round 1 was already trained with this answer" in undone["note"]
        assert answer_right(alice, truth) is not None  # an answer the next round has not trained on
        assert "note" not in alice.post("/api/undo", json={}).get_json()["undone"], "an untrained answer: a plain undo"
    finally:
        served.driver.stop()


def test_the_curve_s_accuracy_axis_spans_the_points_not_zero_to_one():
    history = [{"n_labeled": n, "accuracy": a} for n, a in ((50, 0.85), (100, 0.9), (150, 0.92))]
    svg = curve_svg(history, height=200)
    ys = [float(y) for y in re.findall(r'<circle cx="[\d.]+" cy="([\d.]+)"', svg)]
    assert ys[0] - ys[2] > 0.5 * (200 - 10 - 40), "0.85 -> 0.92 fills most of the plot's height"
    ticks = [float(t) for t in re.findall(r'text-anchor="end">([\d.]+)</text>', svg)]
    assert ticks[0] <= 0.85 and ticks[-1] >= 0.92 and ticks[-1] - ticks[0] <= 0.1, ticks
    flat = curve_svg([{"n_labeled": 10, "accuracy": 1.0}])
    assert [float(t) for t in re.findall(r'text-anchor="end">([\d.]+)</text>', flat)][::2] == [0.95, 1.0]
