"""Resuming: after kill -9 mid-batch, every committed annotation is still there and the run completes."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from slow_annotator import SlowAnnotator

import autoal
from autoal.errors import InputError

SCRIPT = """
import sys, pandas as pd
sys.path.insert(0, {tests!r})
import autoal
from slow_annotator import SlowAnnotator
df = pd.read_csv({csv!r})
# each answers its 3 of the initial 6, then slow_a hangs after 4 answers in round 1: the kill lands at 10 to 15 labels
autoal.run(df, learner="fast", annotators=[SlowAnnotator(0.9, name="slow_a", delay=0.01, hang_after=7),
                                           SlowAnnotator(0.8, name="slow_b", random_state=1, delay=0.01, hang_after=8)],
           batch_size=10, n_rounds=3, initial_per_class=2, output_dir={out!r}, verbose=False)
"""


def count(db):
    """Annotations stored so far; read-only, so polling never creates the store before the run makes it."""
    try:
        with sqlite3.connect(Path(db).resolve().as_uri() + "?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM annotations").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_kill_9_mid_batch_loses_nothing_and_resume_completes(images, tmp_path):
    images.to_csv(tmp_path / "data.csv", index=False)
    out = tmp_path / "run"
    code = SCRIPT.format(tests=str(Path(__file__).parent), csv=str(tmp_path / "data.csv"), out=str(out))
    proc = subprocess.Popen([sys.executable, "-c", code])
    db = out / "run.sqlite"
    deadline = time.time() + 120
    while count(db) < 6 + 4 and time.time() < deadline:  # initial set done and round 1 under way, then a hang
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(db) as conn:
        before = set(conn.execute("SELECT example_id, annotator, label FROM labels"))
    assert 10 <= len(before) < 6 + 10, "killed in the middle of round 1's batch"
    pool = [SlowAnnotator(0.9, name="slow_a", delay=0), SlowAnnotator(0.8, name="slow_b", random_state=1, delay=0)]
    result = autoal.resume(out, annotators=pool, verbose=False)
    with sqlite3.connect(db) as conn:
        after = set(conn.execute("SELECT example_id, annotator, label FROM labels"))
    assert before <= after
    assert result.history["round"].tolist() == [0, 1, 2, 3]
    assert len(result.labels) == 6 + 3 * 10
    round_1 = result.history.set_index("round").loc[1]
    assert round_1["n_new_labels"] + round_1["n_relabels"] == 10, "labels given before the kill count in their round"


def test_resume_rebuilds_simulated_annotators_from_settings(images, tmp_path):
    out = tmp_path / "run"
    autoal.run(images, learner="fast", annotators=autoal.simulated_annotators(2), batch_size=4, n_rounds=1,
               initial_per_class=2, output_dir=out, verbose=False)
    result = autoal.resume(out, n_rounds=3, verbose=False)
    assert result.history["round"].tolist() == [0, 1, 2, 3]
    assert len(result.labels) == 6 + 3 * 4


def test_resume_of_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(InputError, match="is not an autoal run folder"):
        autoal.resume(tmp_path)


def test_resume_needs_custom_annotators_again(images, tmp_path):
    out = tmp_path / "run"
    df = images.copy()
    df.loc[df.groupby("label").cumcount() >= 4, "label"] = None
    autoal.run(df, learner="fast", annotators=lambda ex: [None] * len(ex), n_rounds=1, batch_size=2,
               output_dir=out, verbose=False)
    with pytest.raises(InputError, match="custom objects or functions and cannot be rebuilt; pass annotators="):
        autoal.resume(out)


def test_a_folder_left_by_a_crash_before_the_store_existed_takes_a_new_run(images, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "settings.json").write_text('{"half": "written"')  # a crash while the run was being set up
    (out / ".run.sqlite.tmp123").write_bytes(b"partial")
    result = autoal.run(images, learner="fast", strategy="margin", batch_size=4, n_rounds=1, initial_per_class=2,
                        output_dir=out, verbose=False)
    assert result.history["round"].tolist() == [0, 1]
    with pytest.raises(InputError, match="already holds a run; resume it"):
        autoal.run(images, learner="fast", output_dir=out, verbose=False)


def test_a_torn_or_missing_history_csv_does_not_matter_to_resume(images, tmp_path):
    out = tmp_path / "run"
    kwargs = dict(learner="fast", strategy="random", batch_size=4, initial_per_class=2, verbose=False)
    autoal.run(images, n_rounds=2, output_dir=out, **kwargs)
    text = (out / "history.csv").read_text()
    (out / "history.csv").write_text(text[: len(text) // 2])  # torn mid-row
    (out / "summary.json").unlink()
    result = autoal.resume(out, n_rounds=3, verbose=False)
    straight = autoal.run(images, n_rounds=3, output_dir=tmp_path / "straight", **kwargs)
    assert result.history["picked_ids"].tolist() == straight.history["picked_ids"].tolist()
    import pandas as pd

    assert pd.read_csv(out / "history.csv")["round"].tolist() == [0, 1, 2, 3]
