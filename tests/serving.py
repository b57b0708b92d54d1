"""Helpers for the labelling-server tests: a real run with page annotators, served by its real app and driver."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from conftest import write_images

from autoal.annotation.annotators import PageAnnotator
from autoal.rounds.loop import start_session
from autoal.rounds.outcomes import Dealt, Trained
from autoal.server import LabellingServer, issue_links
from autoal.server.app import create_app
from autoal.server.driver import RoundDriver
from autoal.server.labelling import RunFacts


def make_run(tmp_path, *, names=("alice", "bob"), n_per_class=20, given_per_class=4, batch_size=6, n_rounds=3,
             learner="fast", classes=("red", "green", "blue"), **options):
    """A real-mode run (colour images, ``given_per_class`` labels given per class) with page annotators.

    Returns ``(run_dir, truth, session)``: truth maps example id (text) to its true colour.
    """
    df = write_images(tmp_path / "images", n_per_class, classes=classes)
    truth = {str(i): c for i, c in df["label"].items()}
    df.loc[df.groupby("label").cumcount() >= given_per_class, "label"] = np.nan
    run_dir = tmp_path / "run"
    session = start_session(df, learner=learner, annotators=[PageAnnotator(n) for n in names], batch_size=batch_size,
                            n_rounds=n_rounds, output_dir=run_dir, verbose=False, simulate=False, **options)
    return run_dir, truth, session


@dataclass
class Served:
    run_dir: Path
    truth: dict
    app: object
    driver: RoundDriver
    tokens: dict  # name -> token ("organiser" too)

    def client(self, name):
        """A test client signed in as ``name`` (its first request swaps the token for the cookie)."""
        client = self.app.test_client()
        page = "/organiser" if name == "organiser" else "/label"
        response = client.get(f"{page}?token={self.tokens[name]}")
        assert response.status_code == 200, response.data[:200]
        return client


def serve_in_process(run_dir, truth, session, *, tick=0.1) -> Served:
    """The run's Flask app with a started round driver (for the framework's test client)."""
    links = issue_links(run_dir, "http://localhost")
    facts = RunFacts(run_dir)
    driver = RoundDriver(session, facts, tick=tick, log=lambda line: None).start()
    app = create_app(facts, driver)
    return Served(run_dir, truth, app, driver, {name: link.split("token=")[1] for _, name, link in links})


def serve_http(run_dir, session, *, tick=0.1, threads=8):
    """The run served by waitress on 127.0.0.1 (a free port) in this process; returns ``(server, tokens)``."""
    server = LabellingServer(run_dir, session, port=0, tick=tick, threads=threads, log=lambda line: None)
    links = issue_links(run_dir, server.url)
    server.start()
    return server, {name: link.split("token=")[1] for _, name, link in links}


def table_rows(run_dir) -> dict:
    """Every row of the tables that hold answers and assignments, read with plain sqlite3."""
    with sqlite3.connect(f"file:{run_dir / 'run.sqlite'}?mode=ro", uri=True) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
                for t in ("annotations", "skips", "assignments", "server_tokens") if t in tables}


def labels_of(run_dir, annotator=None) -> pd.DataFrame:
    """Annotations as ``example_id, annotator, label, round`` (ids as text), from the store's ``labels`` view."""
    with sqlite3.connect(f"file:{run_dir / 'run.sqlite'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT example_id, annotator, label, round FROM labels").fetchall()
    frame = pd.DataFrame([(str(json.loads(e)), a, lab, r) for e, a, lab, r in rows],
                         columns=["example_id", "annotator", "label", "round"])
    return frame if annotator is None else frame[frame["annotator"] == annotator].reset_index(drop=True)


def train_round_zero(session, *, deal_next=False) -> None:
    """Advance a new run's session through round 0 (trained on its given labels) and, with ``deal_next``, deal round
    1's batch; then close it."""
    assert isinstance(session.advance(), Trained)
    if deal_next:
        assert isinstance(session.advance(), Dealt)
    session.close()


def open_example(client):
    """The client's next open example (the labelling page's queue), None when none is open."""
    return client.get("/api/queue").get_json()["item"]


def answer_right(client, truth):
    """Answer the client's next open example with its true label; returns that example, None when none is open."""
    item = open_example(client)
    if item is not None:
        client.post("/api/answer", json={"example_id": item["example_id"], "label": truth[item["example_id"]]})
    return item

