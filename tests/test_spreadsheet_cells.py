"""CSV injection: class names, annotator names and ids that begin like a formula are written so that a spreadsheet
shows them as text, in every CSV a person opens (export-labels, --consensus, --annotators, the run's own
labels.csv and annotators.csv, the organiser's downloads, export-batch), and read back exactly."""

import csv
import io
import urllib.request

import numpy as np
import pandas as pd
import pytest
from test_labels_as_written import write_manifest

from autoal.annotation.annotators import PageAnnotator
from autoal.cli.commands import main
from autoal.common.spreadsheet import FORMULA_STARTS, from_cell, to_cell
from autoal.rounds.loop import start_session

HOSTILE_CLASSES = ["=1+1", "@SUM(A1:A2)"]
HOSTILE_NAME = "=cmd|' /C calc'!A0"


def cells(text) -> list:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def assert_no_formula(text, *, expected):
    found = cells(text)
    formulas = [c for c in found if c.startswith(FORMULA_STARTS) and not c.lstrip("+-").replace(".", "").isdigit()]
    assert formulas == [], formulas
    for value in expected:
        assert "'" + value in found, (value, found[:40])


@pytest.mark.parametrize("value", ["=1+1", "+cmd", "-2+3", "@A1", "\tx", "\rx", "'=x", "''", "'abc", "plain", "",
                                   "-3", "+1.5", "1e5"])
def test_cells_round_trip_and_numbers_stay_numbers(value):
    assert from_cell(to_cell(value)) == value
    written = to_cell(value)
    assert not written.startswith(FORMULA_STARTS) or value in ("-3", "+1.5")


def test_every_export_of_a_run_writes_formulas_as_text(tmp_path, capsys):
    path, _ = write_manifest(tmp_path, HOSTILE_CLASSES, per_class=8, unlabelled_from=4)
    out = tmp_path / "run"
    assert main(["run", str(path), "--annotators", f"alice,{HOSTILE_NAME}", "--learner", "fast", "--batch-size", "4",
                 "--rounds", "1", "--out", str(out), "--quiet", "--no-relabel"]) == 0
    for name in ("alice", HOSTILE_NAME):  # each answers their part of the batch through files
        batch = tmp_path / f"{name[:5]}.csv"
        assert main(["export-batch", str(out), "--annotator", name, "--out", str(batch)]) == 0
        rows = list(csv.reader(batch.open()))
        ids = [from_cell(r[0]) for r in rows[1:]]
        batch.write_text("example_id,label\n" + "".join(f"{i},{to_cell(HOSTILE_CLASSES[0])}\n" for i in ids))
        assert main(["import-labels", str(out), str(batch), "--annotator", name]) == 0
    assert "stored 2 labels" in capsys.readouterr().out
    assert main(["resume", str(out), "--quiet"]) == 0
    assert main(["export-labels", str(out), "--annotators", str(tmp_path / "people.csv")]) == 0
    assert main(["export-labels", str(out), "--consensus", "--out", str(tmp_path / "consensus.csv")]) == 0
    labels = (out / "labels.csv").read_text()
    assert_no_formula(labels, expected=[HOSTILE_NAME, HOSTILE_CLASSES[0]])
    assert_no_formula((tmp_path / "people.csv").read_text(), expected=[HOSTILE_NAME])
    assert_no_formula((tmp_path / "consensus.csv").read_text(), expected=[HOSTILE_CLASSES[0]])
    assert_no_formula((out / "annotators.csv").read_text(), expected=[HOSTILE_NAME])
    frame = pd.read_csv(out / "labels.csv", dtype=str)  # a program reading it takes the quote off with from_cell
    assert set(frame["annotator"].map(from_cell)) >= {"alice", HOSTILE_NAME, "given"}


def test_the_organisers_downloads_write_formulas_as_text(tmp_path):
    from serving import serve_http

    path, written = write_manifest(tmp_path, HOSTILE_CLASSES, per_class=8, unlabelled_from=4)
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df["image_path"] = [str(tmp_path / p) for p in df["image_path"]]
    df["label"] = [c or np.nan for c in df["label"]]
    df.index = [f"=HYPERLINK(\"http://evil/{k}\")" if k % 3 == 0 else f"ex{k}" for k in range(len(df))]
    session = start_session(df, learner="fast", annotators=[PageAnnotator("alice")], batch_size=4, n_rounds=1,
                            holdout_fraction=0, output_dir=tmp_path / "run", verbose=False, simulate=False,
                            relabel=False)
    server, tokens = serve_http(tmp_path / "run", session)
    try:
        server.driver.wait_for(lambda s: s["phase"] == "labelling" and s["round"] == 1, 120)
        for what in ("labels", "consensus", "annotators"):
            request = urllib.request.Request(f"{server.url}/organiser/{what}.csv",
                                             headers={"Cookie": f"autoal_organiser={tokens['organiser']}"})
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read().decode()
            expected = [HOSTILE_CLASSES[0]] if what != "annotators" else []
            assert_no_formula(text, expected=expected)
            if what == "labels":
                assert "'=HYPERLINK(\"http://evil/0\")" in cells(text)
    finally:
        server.close()
