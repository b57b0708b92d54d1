"""One writer per run: while ``autoal serve`` drives a run, a second ``serve``, ``resume`` or ``labelstudio sync``
of it is refused with the serving process named, commands that only read keep working, and a label and a
skip of one example by one person can never both be stored, whichever path each arrives by."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading

import numpy as np
import pytest
from conftest import write_images
from serving import labels_of, make_run, serve_http, table_rows
from test_server_kill import call, start, wait_for_item, wait_for_url

from autoal.annotation.annotators import Annotator
from autoal.annotation.batch_files import import_labels
from autoal.errors import InputError
from autoal.rounds.loop import resume_session
from autoal.rounds.loop import run as autoal_run
from autoal.store.run_lock import RunLocked, WriterLock
from autoal.store.run_state import open_run
from autoal.store.run_store import AnswerConflict

AUTOAL = [sys.executable, "-m", "autoal.cli"]


def autoal(*args, timeout=300):
    return subprocess.run(AUTOAL + [str(a) for a in args], capture_output=True, text=True, timeout=timeout)


def rounds(run_dir) -> list:
    with sqlite3.connect(f"file:{run_dir / 'run.sqlite'}?mode=ro", uri=True) as db:
        return db.execute("SELECT round, record FROM rounds ORDER BY round").fetchall()


def test_a_second_writer_is_refused_while_serve_runs_and_readers_still_work(tmp_path):
    df = write_images(tmp_path / "images", 12)
    df.loc[df.groupby("label").cumcount() >= 4, "label"] = np.nan
    manifest = tmp_path / "manifest.csv"
    df.to_csv(manifest, index=False)
    run_dir, log = tmp_path / "run", tmp_path / "serve.log"
    server = start(["serve", str(run_dir), "--manifest", str(manifest), "--annotators", "alice,bob", "--learner", "fast",
                    "--batch-size", "4", "--rounds", "3", "--no-relabel", "--port", "0", "--quiet"], log)
    try:
        url = wait_for_url(log, server)
        token = next(line.split("token=")[1].strip() for line in log.read_text().splitlines()
                     if line.strip().startswith("alice"))
        wait_for_item(url, token, 1)
        before = rounds(run_dir)
        refused = {"resume": autoal("resume", run_dir, "--partial", "--quiet"),
                   "serve": autoal("serve", run_dir, "--port", "0"),
                   "sync": autoal("labelstudio", "sync", run_dir, "--url", "http://127.0.0.1:9", "--token", "secret-t")}
        for name, done in refused.items():
            assert done.returncode == 2, (name, done.stdout, done.stderr)
            assert f"is in use by process {server.pid} (`autoal serve {run_dir} --manifest" in done.stderr, (name, done.stderr)
            assert "only one process may run its rounds at a time" in done.stderr and "Traceback" not in done.stderr
        holder = json.loads((run_dir / "run.lock").read_text())
        assert holder["pid"] == server.pid and "secret-t" not in (run_dir / "run.lock").read_text()
        assert rounds(run_dir) == before  # round 1 was not trained by anyone else
        listed = autoal("annotators", "list", run_dir)
        exported = autoal("export-labels", run_dir, "--out", tmp_path / "labels.csv")
        assert listed.returncode == 0 and "alice\tpage/files" in listed.stdout
        assert exported.returncode == 0 and (tmp_path / "labels.csv").is_file()
        status, _ = call(url, "/api/queue", token)
        assert status == 200  # the server was not disturbed
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(30)
    # the kernel drops the lock of a killed process: the run goes on at once, no lock file to delete
    resumed = autoal("resume", run_dir, "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert "in use by" not in resumed.stderr


def test_two_sessions_in_two_processes_exclude_each_other_and_the_lock_is_reentrant_in_one(tmp_path):
    run_dir, _, session = make_run(tmp_path)
    code = ("import sys; from autoal.rounds.loop import resume_session\n"
            "try:\n    resume_session(sys.argv[1], verbose=False)\n"
            "except Exception as exc:\n    print(type(exc).__name__, exc); sys.exit(3)\n")
    other = subprocess.run([sys.executable, "-c", code, str(run_dir)], capture_output=True, text=True, timeout=300)
    assert other.returncode == 3 and other.stdout.startswith("RunLocked") and f"process {os.getpid()}" in other.stdout
    again = resume_session(run_dir, verbose=False)  # this process holds the run: a notebook may open it twice
    again.state.close()
    with pytest.raises(RunLocked):  # still held by the first session
        lock_in_a_child(run_dir)
    session.state.close()
    lock_in_a_child(run_dir)  # given back: another process takes it


def lock_in_a_child(run_dir):
    code = ("import sys; from autoal.store.run_lock import WriterLock\n"
            "try:\n    WriterLock.acquire(sys.argv[1])\nexcept Exception:\n    sys.exit(3)\n")
    done = subprocess.run([sys.executable, "-c", code, str(run_dir)], timeout=120)
    if done.returncode == 3:
        raise RunLocked("held")
    assert done.returncode == 0


class Failing(Annotator):
    """An annotator that raises ``error`` when the run prepares it (``when="prepare"``) or asks it."""

    name = "alice"

    def __init__(self, error, when):
        self.error, self.when = error, when

    def prepare(self, **facts):
        if self.when == "prepare":
            raise self.error

    def annotate(self, examples):
        raise self.error


@pytest.mark.parametrize("error, when", [(None, None), (KeyboardInterrupt(), "annotate"),
                                         (RuntimeError("annotator broke"), "annotate"),
                                         (RuntimeError("annotator broke"), "prepare")])
def test_autoal_run_gives_the_lock_back_however_it_ends(tmp_path, error, when):
    """Twice in one process (a notebook), and ended by Ctrl+C or an exception, before or during the rounds:
    afterwards another process can drive the run."""
    df = write_images(tmp_path / "images", 6)
    for k in range(2):
        run_dir = tmp_path / f"run{k}"
        options = dict(learner="fast", batch_size=3, n_rounds=1, output_dir=run_dir, verbose=False)
        if error is None:
            autoal_run(df, **options)
        else:
            with pytest.raises(type(error)):
                autoal_run(df, annotators=[Failing(error, when)], **options)
        assert (run_dir / "run.sqlite").is_file()
        lock_in_a_child(run_dir)  # RunLocked here: the run's lock was kept after run() returned or raised


def test_a_new_run_in_a_folder_another_process_holds_is_refused(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    code = ("import sys, time; from autoal.store.run_lock import WriterLock\n"
            "WriterLock.acquire(sys.argv[1]); print('held', flush=True); time.sleep(120)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLocked, match=f"in use by process {holder.pid}"):
            make_run(tmp_path)
        assert not (folder / "run.sqlite").exists()
    finally:
        holder.kill()
        holder.wait(30)
    assert WriterLock.holder(folder)["pid"] == holder.pid  # what it left behind only names who held it


# -- a label and a skip of one example by one person: never both -------------------------------------------


def test_a_file_label_after_a_page_skip_is_refused_over_http(tmp_path):
    run_dir, truth, session = make_run(tmp_path, relabel=False)
    server, tokens = serve_http(run_dir, session)
    try:
        server.driver.wait_for(lambda s: s["phase"] == "labelling" and s["round"] == 1, 120)
        _, state = call(server.url, "/api/queue", tokens["alice"])
        skipped = state["item"]["example_id"]
        # import-labels looked at alice's open examples first, the page's skip then landed, then the import wrote
        state_for_import = open_run(run_dir)
        try:
            from autoal.annotation.batch_files import AnswerChecks, ImportReport

            report = ImportReport()
            checks = AnswerChecks(state_for_import, report)
            checks._lookup("alice")  # what the import saw: the example open
            status, _ = call(server.url, "/api/answer", tokens["alice"], {"example_id": skipped, "skip": True})
            assert status == 200
            why = checks.label("alice", skipped, truth[skipped])
        finally:
            state_for_import.close()
        assert "skipped example" in why and "meanwhile" in why and report.stored == 0
        rows = table_rows(run_dir)
        assert [r for r in rows["annotations"] if r[2] == "alice"] == []
        assert len([r for r in rows["skips"] if r[1] == "alice"]) == 1
        # and the other way round: a page skip of an example a file labelled is refused with 409
        _, state = call(server.url, "/api/queue", tokens["bob"])
        labelled = state["item"]["example_id"]
        path = tmp_path / "bob.csv"
        path.write_text(f"example_id,label\n{labelled},{truth[labelled]}\n")
        assert import_labels(run_dir, path, "bob").stored == 1
        status, body = call(server.url, "/api/answer", tokens["bob"], {"example_id": labelled, "skip": True})
        assert status == 409 and b"already answered" in body
    finally:
        server.close()
    both = labels_of(run_dir)
    assert len(both[both["annotator"] == "bob"]) == 1


def test_racing_a_skip_and_a_label_never_stores_both(tmp_path):
    """Many races of a label (through the store) and a skip (through the store too), each in its own thread and
    connection: exactly one of the two is stored every time."""
    run_dir, _, session = make_run(tmp_path, n_per_class=30, given_per_class=4)
    session.state.close()
    state_a, state_b = open_run(run_dir), open_run(run_dir)
    try:
        pool = [int(p) for p in np.flatnonzero(state_a.snapshot().counts == 0)[:40]]
        outcomes = []
        for position in pool:
            results = {}
            barrier = threading.Barrier(2)

            def label():
                barrier.wait()
                try:
                    state_a.add_label(position, "alice", 0, 1)
                    results["label"] = True
                except AnswerConflict:
                    results["label"] = False

            def skip():
                barrier.wait()
                try:
                    state_b.skip(position, "alice", 1)
                    results["skip"] = True
                except AnswerConflict:
                    results["skip"] = False

            threads = [threading.Thread(target=label), threading.Thread(target=skip)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            outcomes.append((results["label"], results["skip"]))
    finally:
        state_a.close()
        state_b.close()
    assert all(a != b for a, b in outcomes), outcomes  # one of the two, never both, never neither
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        both = db.execute("SELECT COUNT(*) FROM annotations a JOIN skips s ON s.example = a.example "
                          "AND s.annotator = a.annotator").fetchone()[0]
    assert both == 0


def test_a_store_made_before_the_guards_gets_them_when_opened(tmp_path):
    run_dir, _, session = make_run(tmp_path)
    session.state.close()
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        db.execute("DROP TRIGGER label_not_after_skip")
        db.execute("DROP TRIGGER skip_not_after_label")
    state = open_run(run_dir)
    try:
        position = int(np.flatnonzero(state.snapshot().counts == 0)[0])
        state.skip(position, "alice", 1)
        with pytest.raises(InputError, match="skipped the example at position"):
            state.add_label(position, "alice", 0, 1)
    finally:
        state.close()
