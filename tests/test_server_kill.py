"""``autoal serve`` as a real process: killed with SIGKILL mid-batch and started again (on the address it last
served on), nothing answered is lost, the queues go on where they were, the links keep working, and no token
ever reaches the server's output."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from conftest import write_images
from serving import labels_of, table_rows

AUTOAL = [sys.executable, "-X", "faulthandler", "-m", "autoal.cli"]  # SIGABRT prints every thread's stack


def start(args, log: Path, *, sigint_ignored=False):
    """``autoal ARGS`` with its output appended to ``log``; ``sigint_ignored``: started as a script's background
    job is (SIGINT ignored from the start)."""
    handle = open(log, "ab")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
    return subprocess.Popen(AUTOAL + args, stdout=handle, stderr=subprocess.STDOUT, env=env, preexec_fn=ignore)


def wait_for_url(log: Path, process, offset=0, timeout=120) -> str:
    """The address the server started at ``offset`` of the log prints."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.findall(r"on (http://127\.0\.0\.1:\d+) \(Ctrl\+C", log.read_text()[offset:])
        if found:
            return found[-1]
        assert process.poll() is None, log.read_text()
        time.sleep(0.1)
    raise AssertionError(f"the server did not start: {log.read_text()}")


def wait_for_log(log: Path, pattern, offset=0, timeout=60) -> str:
    """The log from ``offset`` once it matches ``pattern`` (a multi-line regex); fails after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text()[offset:]
        if re.search(pattern, text, flags=re.M):
            return text
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} never appeared in the log: {log.read_text()[offset:]}")


def stop_server(process, log: Path, signum=signal.SIGINT, timeout=120) -> None:
    """Send ``signum`` (SIGINT: what Ctrl+C sends); a server that has not stopped after ``timeout`` s fails
    the test with its threads' stacks (faulthandler, on SIGABRT) in the message."""
    process.send_signal(signum)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        process.wait(30)
        raise AssertionError(f"autoal serve did not stop {timeout} s after {signal.Signals(signum).name}:\n"
                             f"{log.read_text()[-6000:]}") from None


def call(url, path, token=None, body=None):
    request = urllib.request.Request(url + path + (f"?token={token}" if token else ""),
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"} if body is not None else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for_item(url, token, round_, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, state = call(url, "/api/queue", token)
        if status == 200 and state["item"] and state["item"]["round"] == round_:
            return state
        time.sleep(0.1)
    raise AssertionError(f"no round-{round_} example was served in {timeout} s")


def test_kill_9_mid_batch_then_restart_keeps_every_answer_and_the_queues(tmp_path):
    df = write_images(tmp_path / "images", 20)
    truth = {str(i): c for i, c in df["label"].items()}
    df.loc[df.groupby("label").cumcount() >= 4, "label"] = np.nan
    manifest = tmp_path / "manifest.csv"
    df.to_csv(manifest, index=False)
    run_dir, log = tmp_path / "run", tmp_path / "serve.log"
    first = start(["serve", str(run_dir), "--manifest", str(manifest), "--annotators", "alice,bob", "--learner", "fast",
                   "--batch-size", "6", "--rounds", "3", "--no-relabel", "--port", "0", "--quiet"], log)
    try:
        url = wait_for_url(log, first)
        links = dict(re.findall(r"^\s+(\S+)\s+(http://\S+token=\S+)$", log.read_text(), flags=re.M))
        assert set(links) == {"organiser", "alice", "bob"}
        tokens = {name: link.split("token=")[1] for name, link in links.items()}
        state = wait_for_item(url, tokens["alice"], 1)
        answered = []
        for _ in range(2):
            example = state["item"]["example_id"]
            status, state = call(url, "/api/answer", tokens["alice"], {"example_id": example, "label": truth[example]})
            assert status == 200
            answered.append(example)
        bob_state = wait_for_item(url, tokens["bob"], 1)
        bob_skip = bob_state["item"]["example_id"]
        assert call(url, "/api/answer", tokens["bob"], {"example_id": bob_skip, "skip": True})[0] == 200
        left_for_alice = state["item"]["example_id"]
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    assert first.returncode == -signal.SIGKILL
    rows = table_rows(run_dir)  # read straight from the file the killed process left
    assert sorted(labels_of(run_dir, "alice")["example_id"]) == sorted(answered)
    assert [r[1] for r in rows["skips"]] == ["bob"]

    offset = len(log.read_text())
    second = start(["serve", str(run_dir), "--quiet"], log)  # no --port: where it was, so the links keep working
    try:
        assert wait_for_url(log, second, offset) == url  # the port the first start's --port 0 got
        restart = wait_for_log(log, r"^\s+alice\s+issued earlier \(new one: `autoal annotators link .* alice`\)$", offset)
        assert "  the address it last served on, so the links given out before keep working" in restart
        state = wait_for_item(url, tokens["alice"], 1)  # the same link still works
        assert state["item"]["example_id"] == left_for_alice
        assert state["progress"] == {"round": 1, "done": 2, "assigned": 3, "older_open": 0}
        assert [r["example_id"] for r in state["recent"]] == answered[::-1]
        assert call(url, "/api/answer", tokens["alice"], {"example_id": answered[0], "label": "red"})[0] == 409
        status, state = call(url, "/api/answer", tokens["alice"], {"example_id": left_for_alice,
                                                                   "label": truth[left_for_alice]})
        assert status == 200 and state["item"] is None
        bob = wait_for_item(url, tokens["bob"], 1)
        while bob["item"] is not None and bob["item"]["round"] == 1:
            example = bob["item"]["example_id"]
            status, bob = call(url, "/api/answer", tokens["bob"], {"example_id": example, "label": truth[example]})
            assert status == 200
        wait_for_item(url, tokens["alice"], 2)  # the batch is complete: round 1 trained, round 2 handed out
        status, organiser = call(url, "/api/status", tokens["organiser"])
        assert [r["round"] for r in organiser["history"]] == [0, 1] and organiser["status"]["round"] == 2
    finally:
        stop_server(second, log)  # Ctrl+C: a clean stop
    assert second.returncode == 0 and "autoal serve: stopped; every answer given is in the run store" in log.read_text()
    labels = labels_of(run_dir)
    assert len(labels[labels["annotator"] == "alice"]) == 3 and not labels.duplicated(["example_id", "annotator"]).any()
    output = log.read_text()
    for name, token in tokens.items():
        assert output.count(token) == 1, name  # printed once, in the first start's link, and never logged
        assert token not in output[offset:]
    assert "GET /api" not in output and "POST /api" not in output  # no access log


def test_ctrl_c_and_sigterm_stop_the_server_also_when_started_with_sigint_ignored(tmp_path):
    df = write_images(tmp_path / "images", 12)
    df.loc[df.groupby("label").cumcount() >= 3, "label"] = np.nan
    manifest = tmp_path / "manifest.csv"
    df.to_csv(manifest, index=False)
    run_dir, log = tmp_path / "run", tmp_path / "serve.log"
    first = start(["serve", str(run_dir), "--manifest", str(manifest), "--annotators", "alice", "--learner", "fast",
                   "--batch-size", "4", "--rounds", "2", "--port", "0", "--quiet"], log, sigint_ignored=True)
    url = wait_for_url(log, first)
    assert call(url, "/api/queue")[0] == 401  # serving
    stop_server(first, log)
    assert first.returncode == 0
    offset = len(log.read_text())
    second = start(["serve", str(run_dir), "--port", "0", "--quiet"], log, sigint_ignored=True)
    wait_for_url(log, second, offset)
    stop_server(second, log, signal.SIGTERM)
    assert second.returncode == 0
    assert log.read_text().count("autoal serve: stopped; every answer given is in the run store") == 2

