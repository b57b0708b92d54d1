"""Exact resume: a team run killed with SIGKILL at seeded random moments, resumed each time, ends as if never stopped."""

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import stored_labels, write_images

DRIVER = Path(__file__).parent / "team_driver.py"
#: History columns that differ between two identical runs: wall times, and embedding-cache counters that
#: depend on what an earlier (killed) process had already cached.
VOLATILE = ("_seconds", "cache_hits", "n_embedded")


def start(data, out, strategy, learner, team):
    return subprocess.Popen([sys.executable, str(DRIVER), str(data), str(out), strategy, learner, team],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(data, out, strategy, learner, team, timeout=300):
    """Run the driver until it says DONE; return how long it worked (after its imports)."""
    proc = start(data, out, strategy, learner, team)
    assert proc.stdout.readline().strip() == "READY"
    started = time.perf_counter()
    stdout, stderr = proc.communicate(timeout=timeout)
    assert proc.returncode == 0 and "DONE" in stdout, stderr[-3000:]
    return time.perf_counter() - started


def outcome(out):
    """What must match: every annotation in order, the picks and the history without wall times."""
    history = pd.read_csv(out / "history.csv")
    history = history[[c for c in history.columns if not c.endswith(VOLATILE)]]
    return list(stored_labels(out).itertuples(index=False, name=None)), history


@pytest.fixture
def data(tmp_path):
    df = write_images(tmp_path / "img", 14, seed=4)
    df.to_csv(tmp_path / "data.csv", index=False)
    return tmp_path / "data.csv"


@pytest.mark.parametrize("strategy, learner, team, kills", [
    ("auto", "fast", "mixed", 10), ("random", "fast", "mixed", 10), ("random", "fast", "simulated", 10),
    ("auto", "embeddings", "mixed", 4)])
def test_killed_at_random_moments_and_resumed_ends_as_the_uninterrupted_run(data, tmp_path, strategy, learner, team,
                                                                          kills):
    """Simulated and file annotators (team "mixed"): the file labels arrive between runs of the driver."""
    reference = tmp_path / "reference"
    seconds = finish(data, reference, strategy, learner, team)
    rng = np.random.default_rng([2026, kills, len(strategy)])
    killed, landed, attempts = tmp_path / "killed", 0, 0
    # Each start resumes where the last kill left the run, so the kills move through it; a window of
    # 1.2 / kills of the uninterrupted run keeps the run alive for all of them (on average 60% of its
    # work is done before the last kill) even when this machine's load changes between the runs.
    window = 1.2 * seconds / kills
    while landed < kills and attempts < 4 * kills:  # a kill after the run finished does not count
        attempts += 1
        proc = start(data, killed, strategy, learner, team)
        assert proc.stdout.readline().strip() == "READY"
        time.sleep(rng.uniform(0, window))
        landed += proc.poll() is None
        proc.kill()
        proc.wait()
    assert landed == kills, f"only {landed} of {attempts} kills landed while the run was working"
    finish(data, killed, strategy, learner, team)
    labels, history = outcome(killed)
    expected_labels, expected_history = outcome(reference)
    assert labels == expected_labels
    pd.testing.assert_frame_equal(history, expected_history)
    assert len(history) == 5 and (history["n_relabels"].sum() > 0 or strategy == "random")
