"""A damaged run store gives a clear error, never a traceback, and ``serve`` does not start on it.

Damage as it happens: bytes flipped in ``run.sqlite`` (seeded), a meta entry that is not JSON, a label
index or an example out of range (written with the ``sqlite3`` shell, which does not enforce foreign
keys), a labelling-server setting that is not JSON or not valid.
"""

import shutil
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
from serving import make_run, train_round_zero

from autoal.cli.commands import main
from autoal.store.run_state import open_run
from autoal.store.store_check import DamagedStore


@pytest.fixture
def run_dir(tmp_path):
    """A real-mode run with page annotators whose round 0 is trained and round 1 assigned, closed."""
    run_dir, _, session = make_run(tmp_path, relabel=False)
    train_round_zero(session, deal_next=True)
    return run_dir


def edit(run_dir, sql, *params):
    with sqlite3.connect(run_dir / "run.sqlite") as db:  # foreign keys are off in a plain connection
        db.execute(sql, params)


def serve(run_dir):
    """``autoal serve RUN_DIR`` as a process: it must refuse at once (a started server would not return)."""
    done = subprocess.run([sys.executable, "-m", "autoal.cli", "serve", str(run_dir), "--port", "0"],
                          capture_output=True, text=True, timeout=180)
    return done.returncode, done.stderr


@pytest.mark.parametrize("sql, message", [
    ("UPDATE meta SET value = '{not json' WHERE key = 'settings'", "its meta entry 'settings' is not JSON"),
    ("UPDATE meta SET value = '[1, 2]' WHERE key = 'settings'", "its meta entry 'settings' is list, not dict"),
    ("UPDATE annotations SET label = 7 WHERE seq = 1", "name a label index or an example that does not exist"),
    ("UPDATE annotations SET example = 99999 WHERE seq = 1", "name a label index or an example that does not exist"),
    ("UPDATE assignments SET example = -3 WHERE rowid = 1", "rows of ['assignments'] name an example that does not exist"),
    ("DELETE FROM classes WHERE idx = 2", "class table (2 rows) does not match its class list (3 classes)"),
    ("UPDATE rounds SET record = 'x{' WHERE round = 0", "the record of round 0 in 'rounds' is not JSON"),
    ("UPDATE examples SET example_id = '{broken' WHERE pos = 3", "its examples cannot be read"),
])
def test_serve_and_the_other_commands_refuse_a_damaged_store(run_dir, tmp_path, capsys, sql, message):
    edit(run_dir, sql)
    code, err = serve(run_dir)
    assert code == 2 and message in err and "is damaged" in err and "Traceback" not in err, err
    assert "restore run.sqlite from a copy" in err.lower() or "Restore run.sqlite from a copy" in err
    for argv in (["export-labels", str(run_dir), "--out", str(tmp_path / "x.csv")], ["resume", str(run_dir), "--quiet"],
                 ["export-batch", str(run_dir), "--annotator", "alice"], ["annotators", "list", str(run_dir)]):
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err


@pytest.mark.parametrize("key, value, message", [
    ("show_guess_new", "nope", "setting 'show_guess_new' in run.sqlite is not JSON"),
    ("show_guess_new", '"yes"', "setting 'show_guess_new' must be true or false"),
    ("reassign_after_minutes", "-5", "setting 'reassign_after_minutes' must be a number in [0, 10080], got -5"),
])
def test_serve_refuses_server_settings_edited_into_nonsense(run_dir, key, value, message):
    from autoal.server import access

    access.connect(run_dir).close()  # the server's tables
    edit(run_dir, "INSERT OR REPLACE INTO server_settings VALUES (?, ?)", key, value)
    code, err = serve(run_dir)
    assert code == 2 and message in err and "Traceback" not in err, err


def test_flipped_bytes_give_a_clear_error_or_nothing_wrong(run_dir, tmp_path, capsys):
    """12 seeded damages of 16 flipped bytes each: every command either works (the bytes hit unused space) or
    exits 2 naming the damage; none ends in a traceback."""
    original = (run_dir / "run.sqlite").read_bytes()
    outcomes = []
    for seed in range(12):
        rng = np.random.default_rng(seed)
        data = bytearray(original)
        for offset in rng.integers(100, len(data), size=16):
            data[offset] ^= 1 << int(rng.integers(0, 8))
        (run_dir / "run.sqlite").write_bytes(bytes(data))
        for argv in (["export-labels", str(run_dir), "--out", str(tmp_path / "x.csv")], ["annotators", "list", str(run_dir)],
                     ["resume", str(run_dir), "--quiet"]):
            code = main(argv)
            err = capsys.readouterr().err
            assert code in (0, 2), (seed, argv, err)
            if code == 2:
                assert "damaged" in err, (seed, argv, err)
            outcomes.append(code)
        for leftover in run_dir.glob("run.sqlite-*"):
            leftover.unlink()
    assert outcomes.count(2) >= 6  # most damages are found (the rest hit bytes nothing reads)


def test_a_whole_store_opens_and_one_broken_meta_entry_is_named(run_dir):
    state = open_run(run_dir)
    state.close()
    shutil.copy(run_dir / "run.sqlite", run_dir / "copy.sqlite")
    with sqlite3.connect(run_dir / "copy.sqlite") as db:
        assert db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    with pytest.raises(DamagedStore):
        edit(run_dir, "UPDATE meta SET value = 'nope' WHERE key = 'run_id'")
        open_run(run_dir)
