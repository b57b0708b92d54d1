"""``autoal serve`` and ``autoal annotators`` at the command line, tokens, and the round driver's duties:
annotators joining while it serves, an absent annotator's examples handed on after the set time,
a cold start on the page, and a run that stops."""

import hmac
import socket
import sqlite3
import time

import numpy as np
import pandas as pd
import pytest
from conftest import write_images
from serving import labels_of, make_run, serve_in_process, table_rows, train_round_zero
from test_run_lock import lock_in_a_child

from autoal.annotation.annotators import PageAnnotator
from autoal.annotation.specs import annotator_from_spec
from autoal.cli.commands import main
from autoal.errors import InputError
from autoal.rounds.loop import resume_session
from autoal.server import access, settings
from autoal.server.handover import reassign_stale
from autoal.server.labelling import Desk, RunFacts


@pytest.fixture
def run_dir(tmp_path):
    run_dir, _, session = make_run(tmp_path)
    session.state.close()
    access.connect(run_dir).close()  # the server's tables, as the first `autoal serve` makes them
    return run_dir


def link_token(text, name):
    line = next(line for line in text.splitlines() if line.startswith(f"{name}: "))
    return line.split("token=")[1]


def test_annotators_add_link_and_list(run_dir, capsys):
    assert main(["annotators", "add", str(run_dir), "carol"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("carol: http://127.0.0.1:8765/label?token=")
    token = link_token(out, "carol")
    db = access.connect(run_dir)
    assert access.identify(db, token) == ("annotator", "carol")
    session = resume_session(run_dir, verbose=False)  # rebuilt from the stored spec, as a page annotator
    assert [type(a).__name__ for a in session.annotators] == ["PageAnnotator"] * 3 and session.names[-1] == "carol"
    session.state.close()
    assert annotator_from_spec({"kind": "page", "name": "x"}).answers_later

    assert main(["annotators", "add", str(run_dir), "carol"]) == 2
    assert "'carol' is already an annotator of this run" in capsys.readouterr().err
    assert main(["annotators", "add", str(run_dir), "carol", "--new-link", "--url", "http://10.0.0.5:9000/"]) == 0
    new = capsys.readouterr().out
    assert new.startswith("carol: http://10.0.0.5:9000/label?token=")
    assert access.identify(db, token) is None and access.identify(db, link_token(new, "carol")) == ("annotator", "carol")
    assert main(["annotators", "link", str(run_dir), "--organiser"]) == 0
    organiser = capsys.readouterr().out
    assert organiser.startswith("organiser: http://10.0.0.5:9000/organiser?token=")  # the address given last
    assert access.identify(db, link_token(organiser, "organiser")) == ("organiser", "organiser")
    assert main(["annotators", "link", str(run_dir), "alice"]) == 0 and "alice: http" in capsys.readouterr().out
    assert main(["annotators", "list", str(run_dir)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].startswith("alice\tpage/files\t0 labels\thas a link") and listed[1].endswith("no link yet")
    assert listed[2] == "carol\tpage/files\t0 labels\thas a link"
    db.close()


@pytest.mark.parametrize("args,message", [
    (["annotators", "add", "RUN", "../x"], "annotator name '../x' is not allowed"),
    (["annotators", "add", "RUN", "a b"], "is not allowed"),
    (["annotators", "add", "RUN", "Given"], "is reserved"),
    (["annotators", "add", "RUN", "organiser"], "is reserved"),
    (["annotators", "add", "RUN", "alice"], "already an annotator"),
    (["annotators", "add", "RUN", "zed", "--new-link"], "'zed' is not an annotator of this run"),
    (["annotators", "link", "RUN", "zed"], "'zed' is not an annotator of this run"),
    (["annotators", "add", "RUN", "zed", "--url", "ftp://x"], "must be an address such as http://127.0.0.1:8765"),
    (["annotators", "add", "NOWHERE", "zed"], "is not an autoal run folder"),
])
def test_annotators_command_errors_name_the_problem_and_the_fix(run_dir, capsys, args, message):
    before = table_rows(run_dir)
    argv = [str(run_dir) if a == "RUN" else str(run_dir.parent / "nowhere") if a == "NOWHERE" else a for a in args]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    if "--url" not in args:
        assert table_rows(run_dir) == before


def test_serve_refuses_bad_arguments_before_serving(run_dir, tmp_path, capsys):
    df = write_images(tmp_path / "more", 3)
    manifest = tmp_path / "m.csv"
    df.to_csv(manifest, index=False)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    with sqlite3.connect(foreign / "run.sqlite") as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cases = [
            (["serve", str(tmp_path / "none")], "holds no run: start one with `autoal serve"),
            (["serve", str(run_dir), "--manifest", str(manifest), "--annotators", "x"], "holds a run already: serve it without --manifest"),
            (["serve", str(foreign), "--manifest", str(manifest), "--annotators", "x"], "cannot read as a run store"),
            (["serve", str(run_dir), "--annotators", "x"], "add people with `autoal annotators add"),
            (["serve", str(run_dir), "--test", str(manifest)], "--test goes with --manifest"),
            (["serve", str(tmp_path / "new"), "--manifest", str(manifest)], "a new run needs its annotators: --annotators alice,bob"),
            (["serve", str(tmp_path / "new"), "--manifest", str(manifest), "--annotators", "a,a"], "--annotators needs distinct names"),
            (["serve", str(tmp_path / "new"), "--manifest", str(manifest), "--annotators", "a,../b"], "'../b' is not allowed"),
            (["serve", str(run_dir), "--port", "70000"], "--port must be an integer in [0, 65535], got 70000; 0 picks a free one"),
            (["serve", str(run_dir), "--port", str(port)], f"cannot listen on 127.0.0.1:{port}"),
            (["serve", str(run_dir), "--port", "0", "--reassign-after", "-5"], "must be a number in [0, 10080], got -5.0; a number of minutes"),
            (["serve", str(run_dir), "--port", "0", "--url", "label.example.org"], "--url must be an address such as"),
            (["serve", str(tmp_path / "new"), "--manifest", str(manifest), "--annotators", "a", "--reassign-after", "nan"],
             "must be a number in [0, 10080], got nan (not a finite number); a number of minutes"),
        ]
        for argv, message in cases:
            assert main(argv) == 2, argv
            assert message in capsys.readouterr().err, argv
    assert not (tmp_path / "new" / "run.sqlite").exists()


def test_tokens_are_compared_with_every_stored_hash_in_constant_time(run_dir, monkeypatch):
    db = access.connect(run_dir)
    tokens = [access.issue_token(db, access.ANNOTATOR, n) for n in ("alice", "bob")]
    tokens.append(access.issue_token(db, access.ORGANISER, access.ORGANISER))
    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(access.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    assert access.identify(db, tokens[0]) == ("annotator", "alice")
    assert len(calls) == 3  # no early exit at the first match
    assert access.identify(db, tokens[0][:-1] + ("A" if tokens[0][-1] != "A" else "B")) is None
    for bad in (None, "", "short", "x" * 101, 12345, tokens[0] + " "):
        assert access.identify(db, bad) is None
    again = access.issue_token(db, access.ANNOTATOR, "alice")  # replaces the old one
    assert access.identify(db, tokens[0]) is None and access.identify(db, again) == ("annotator", "alice")
    stored = [h for (h,) in db.execute("SELECT hash FROM server_tokens")]
    assert all(len(h) == 64 and h not in tokens for h in stored)
    db.close()


def test_an_absent_annotators_examples_are_handed_on_after_the_set_time(tmp_path):
    run_dir, truth, session = make_run(tmp_path, relabel=False)
    train_round_zero(session, deal_next=True)
    desk = Desk(RunFacts(run_dir))
    alices = [p for _, p in desk.queue("alice")]
    assert len(alices) == 3
    now = time.time()
    access.touch(desk.db, "alice", now - 3 * 3600)  # away since three hours before the batch
    access.touch(desk.db, "bob", now + 7100)  # bob is here two hours later
    assert reassign_stale(desk, ["alice", "bob"], 0, now=now + 7200) == []  # 0: never
    assert reassign_stale(desk, ["alice", "bob"], 180, now=now + 7200) == []  # not yet: assigned two hours ago
    moved = reassign_stale(desk, ["alice", "bob"], 60, now=now + 7200)
    assert sorted(m[0] for m in moved) == sorted(desk.facts.id_text[p] for p in alices)
    assert {(m[1], m[2]) for m in moved} == {("alice", "bob")}
    assert desk.queue("alice") == [] and {p for _, p in desk.queue("bob")} >= set(alices)
    with pytest.raises(InputError, match="assigned to another annotator"):
        desk.answer("alice", desk.facts.id_text[alices[0]], "red")
    desk.answer("bob", desk.facts.id_text[alices[0]], truth[desk.facts.id_text[alices[0]]])
    assert labels_of(run_dir, "bob")["example_id"].tolist() == [desk.facts.id_text[alices[0]]]
    desk.close()


def test_an_annotator_added_while_serving_gets_examples_from_the_next_batch(tmp_path):
    run_dir, truth, session = make_run(tmp_path, relabel=False)
    served = serve_in_process(run_dir, truth, session)
    try:
        served.driver.wait_for(lambda s: s["phase"] == "labelling" and s["round"] == 1, 60)
        organiser = served.client("organiser")
        link = organiser.post("/api/annotators", json={"name": "carol"}).get_json()["link"]
        carol = served.app.test_client()
        assert carol.get("/api/queue?token=" + link.split("token=")[1]).get_json()["item"] is None
        alice = served.client("alice")
        example = alice.get("/api/queue").get_json()["item"]["example_id"]
        alice.post("/api/answer", json={"example_id": example, "label": truth[example]})  # something new to train on
        assert organiser.post("/api/train", json={}).status_code == 202
        served.driver.wait_for(lambda s: s["phase"] == "labelling" and s["round"] == 2, 60)
        state = carol.get("/api/queue").get_json()
        assert state["item"] is not None and state["item"]["round"] == 2 and state["progress"]["assigned"] == 2
    finally:
        served.driver.stop()


def test_a_run_that_stops_says_so_and_refuses_train_now(tmp_path):
    run_dir, truth, session = make_run(tmp_path, relabel=False, n_rounds=1)
    served = serve_in_process(run_dir, truth, session)
    try:
        served.driver.wait_for(lambda s: s["phase"] == "labelling" and s["round"] == 1, 60)
        for name in ("alice", "bob"):
            client = served.client(name)
            state = client.get("/api/queue").get_json()
            while state["item"]:
                example = state["item"]["example_id"]
                state = client.post("/api/answer", json={"example_id": example, "label": truth[example]}).get_json()
        status = served.driver.wait_for(lambda s: s["phase"] == "stopped", 60)
        assert status["stop_reason"] == "1 round done"
        state = served.client("alice").get("/api/queue").get_json()
        assert state["item"] is None and "The run has finished (1 round done)" in state["message"]
        response = served.client("organiser").post("/api/train", json={})
        assert response.status_code == 409 and "the run has stopped" in response.get_json()["error"]
        history = pd.read_csv(run_dir / "history.csv")
        assert history["round"].tolist() == [0, 1] and (run_dir / "summary.json").is_file()
    finally:
        served.driver.stop()


def test_a_cold_start_deals_the_typical_initial_set_to_the_page_annotators(tmp_path):
    df = write_images(tmp_path / "images", 12)
    truth = {str(i): c for i, c in df["label"].items()}
    df["label"] = np.nan
    from autoal.rounds.loop import start_session

    session = start_session(df, learner="fast", annotators=[PageAnnotator("alice"), PageAnnotator("bob")],
                            classes=["red", "green", "blue"], batch_size=6, n_rounds=1, holdout_fraction=0,
                            output_dir=tmp_path / "run", verbose=False, simulate=False)
    served = serve_in_process(tmp_path / "run", truth, session)
    try:
        served.driver.wait_for(lambda s: s["phase"] == "labelling" and s["round"] == 0, 60)
        assert served.driver.status()["message"] == "round 0: 0 of 6 answered"
        refused = served.client("organiser").post("/api/train", json={})  # no label at all yet
        assert refused.status_code == 409 and "nothing to train on yet" in refused.get_json()["error"]
        for name in ("alice", "bob"):
            client = served.client(name)
            state = client.get("/api/queue").get_json()
            assert state["progress"] == {"round": 0, "done": 0, "assigned": 3, "older_open": 0}
            while state["item"]:
                example = state["item"]["example_id"]
                state = client.post("/api/answer", json={"example_id": example, "label": truth[example]}).get_json()
        served.driver.wait_for(lambda s: s["round"] == 1 and s["phase"] in ("labelling", "stopped"), 60)
        with sqlite3.connect(tmp_path / "run" / "run.sqlite") as db:
            assert db.execute("SELECT COUNT(*) FROM rounds").fetchone()[0] == 1
    finally:
        served.driver.stop()
    assert len(labels_of(tmp_path / "run")) == 6


def test_serve_listens_where_the_run_was_last_served_unless_told_otherwise():
    from argparse import Namespace

    from autoal.cli.serve import _address

    def args(host=None, port=None, url=None):
        return Namespace(host=host, port=port, url=url)

    assert _address(args(), None) == ("127.0.0.1", 8765, None, "")  # never served: the defaults
    last = {"host": "0.0.0.0", "port": 41234, "url": "https://label.example.org"}
    host, port, url, note = _address(args(), last)
    assert (host, port, url) == ("0.0.0.0", 41234, "https://label.example.org")
    assert "the address it last served on, so the links given out before keep working" in note
    host, port, url, note = _address(args(port=9000), last)
    assert (host, port, url) == ("0.0.0.0", 9000, None)
    assert "last served on 0.0.0.0:41234; links given out before point there" in note and "--new-links" in note


def test_the_address_served_on_is_kept_with_the_port_that_port_0_got(run_dir):
    db = access.connect(run_dir)
    assert settings.last_address(db) is None
    settings.set_settings(db, base_url="http://127.0.0.1:43210")  # a run served before the address was kept
    assert settings.last_address(db) == {"host": "127.0.0.1", "port": 43210, "url": None}
    settings.set_settings(db, base_url="https://label.example.org")  # a proxy's address says nothing of the port
    assert settings.last_address(db) is None
    settings.save_address(db, "127.0.0.1", 40001)
    assert settings.last_address(db) == {"host": "127.0.0.1", "port": 40001, "url": None}
    assert "served_at" not in settings.get_settings(db)  # not a setting the organiser page can change
    db.close()


def test_serve_on_a_taken_port_it_last_served_on_names_the_port_and_the_fix(run_dir, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        db = access.connect(run_dir)
        settings.save_address(db, "127.0.0.1", port)
        db.close()
        before = table_rows(run_dir)
        assert main(["serve", str(run_dir), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}, where this run was last served and its links point" in err
    assert "--port N (0 picks a free one) and --new-links: the links given out before then stop working" in err
    assert table_rows(run_dir) == before
    lock_in_a_child(run_dir)  # the refused serve gave the run's writer lock back (main() may be called again)
