"""Every SQL statement autoal runs is in ``autoal/store``; the store's functions for the labelling server and
the Label Studio ledger do what they say on a real run store."""

import ast
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import autoal
from autoal.data.prepare import PreparedData
from autoal.store import labelling_queries as queries
from autoal.store import server_tables
from autoal.store.labelstudio_ledger import PullLedger
from autoal.store.run_state import RunState
from autoal.store.run_store import RunStore

PACKAGE = Path(autoal.__file__).parent
STORE = PACKAGE / "store"
SQL_CALLS = ("execute", "executemany", "executescript")


def sql_in(source: str) -> list:
    """``[(line, what), ...]``: each SQL call (``.execute``, ``.executemany``, ``.executescript``) and each
    import of sqlite3 in a module's source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_CALLS:
            found.append((node.lineno, f".{node.func.attr}(...)"))
        elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "sqlite3" for a in node.names):
            found.append((node.lineno, "import sqlite3"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlite3":
            found.append((node.lineno, "from sqlite3 import ..."))
    return sorted(found)


def test_no_module_outside_the_store_runs_sql_or_imports_sqlite3():
    modules = [p for p in sorted(PACKAGE.rglob("*.py")) if STORE not in p.parents]
    assert len(modules) > 20 and PACKAGE / "server" / "labelling.py" in modules  # the walk found the package
    found = [f"{path.relative_to(PACKAGE.parent)}:{line}: {what}"
             for path in modules for line, what in sql_in(path.read_text())]
    assert not found, "SQL outside autoal/store (move it into a store function):\n" + "\n".join(found)


def test_the_check_finds_each_kind_of_sql_with_its_line():
    source = ("import os, sqlite3\nfrom sqlite3 import connect\n\n\ndef f(db, run):\n    db.execute('SELECT 1')\n"
              "    db.executemany('x', [])\n    run.store._db.executescript('y')\n    return execute('not a method')\n")
    assert sql_in(source) == [(1, "import sqlite3"), (2, "from sqlite3 import ..."), (6, ".execute(...)"),
                              (7, ".executemany(...)"), (8, ".executescript(...)")]
    assert sql_in("import sqlite3x\nfrom autoal.store import server_tables\nserver_tables.read_settings(db)\n") == []


# -- the store's functions on a real run store ------------------------------------------------------------


@pytest.fixture
def run(tmp_path):
    """``(db, store)``: a server connection to a fresh run (4 pool examples; 0 and 2 labelled by "given" in
    round 0; classes cat, dog, eel) and a RunStore on that connection."""
    frame = pd.DataFrame({"label": ["cat", np.nan, "dog", np.nan], "image_path": ["a.png", "b.png", "c.png", "d.png"]},
                         index=pd.Index(["a", "b", "c", "d"], dtype=object))
    data = PreparedData(frame, frame.iloc[:0], ["cat", "dog", "eel"], ["a", "c"], False, "none")
    settings = {"label": "label", "image_col": "image_path", "annotator_names": ["alice", "bob"],
                "annotators": [{"kind": "page", "name": "alice"}, {"kind": "page", "name": "bob"}]}
    RunState.create(tmp_path / "run", data, settings).close()
    path = tmp_path / "run" / "run.sqlite"
    db = server_tables.connect(path)
    yield db, RunStore(db, path)
    db.close()


def columns(db, table) -> list:
    return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def test_the_server_connection_is_set_up_as_the_stores_with_the_server_tables(run):
    db, _ = run
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 60000
    assert db.isolation_level is None  # autocommit: transactions are the explicit BEGIN IMMEDIATE ones
    assert columns(db, "server_tokens") == ["role", "name", "hash", "created"]
    assert columns(db, "server_settings") == ["key", "value"]
    assert columns(db, "server_seen") == ["name", "last_seen"]
    assert columns(db, "server_actions") == ["seq", "annotator", "example", "kind", "label", "previous", "round",
                                             "timestamp", "undone"]
    server_tables.ensure_tables(db)  # again: nothing changes
    assert columns(db, "server_tokens") == ["role", "name", "hash", "created"]


def test_token_hashes_are_kept_one_per_role_and_name(run):
    db, _ = run
    assert not server_tables.has_token(db, "annotator", "alice") and server_tables.token_hashes(db) == []
    server_tables.save_token_hash(db, "annotator", "alice", "h1", 10.0)
    server_tables.save_token_hash(db, "organiser", "organiser", "h2", 11.0)
    server_tables.save_token_hash(db, "annotator", "alice", "h3", 12.0)  # a new link replaces the old one
    assert server_tables.has_token(db, "annotator", "alice") and not server_tables.has_token(db, "organiser", "alice")
    assert sorted(server_tables.token_hashes(db)) == [("annotator", "alice", "h3"), ("organiser", "organiser", "h2")]


def test_settings_round_trip_as_json_and_a_failed_write_changes_none(run):
    db, _ = run
    assert server_tables.read_setting(db, "base_url") is None and server_tables.read_setting(db, "x", {}) == {}
    server_tables.write_settings(db, {"base_url": "http://h:1", "show_guess_new": True})
    server_tables.write_setting(db, "served_at", {"host": "127.0.0.1", "port": 8765, "url": None})
    assert server_tables.read_settings(db) == {"base_url": "http://h:1", "show_guess_new": True,
                                               "served_at": {"host": "127.0.0.1", "port": 8765, "url": None}}
    with pytest.raises(TypeError):  # the second value cannot be written: the first is not either
        server_tables.write_settings(db, {"base_url": "http://other:2", "bad": object()})
    assert not db.in_transaction
    assert server_tables.read_setting(db, "base_url") == "http://h:1" and server_tables.read_setting(db, "bad") is None


def test_last_seen_keeps_the_latest_time_per_name(run):
    db, _ = run
    server_tables.mark_seen(db, "alice", 100.0)
    server_tables.mark_seen(db, "bob", 50.0)
    server_tables.mark_seen(db, "alice", 200.0)
    assert server_tables.last_seen(db) == {"alice": 200.0, "bob": 50.0}


def test_the_action_log_gives_the_latest_action_not_undone(run):
    db, _ = run
    assert server_tables.last_action(db, "alice") is None and not server_tables.has_undoable_action(db, "alice")
    server_tables.log_action(db, "alice", 1, "label", 2, None, 1, 100.0)
    server_tables.log_action(db, "alice", 3, "skip", None, None, 1, 101.0)
    server_tables.log_action(db, "bob", 1, "label", 0, None, 1, 102.0)
    server_tables.log_action(db, "alice", 1, "edit", 0, 2, 1, 103.0)
    latest = server_tables.last_action(db, "alice")
    assert (latest.example, latest.kind, latest.label, latest.previous, latest.round) == (1, "edit", 0, 2, 1)
    assert server_tables.recently_acted_on(db, "alice", 10) == [1, 3]  # each example once, latest first
    assert server_tables.recently_acted_on(db, "alice", 1) == [1]
    server_tables.mark_undone(db, latest.seq)
    assert server_tables.last_action(db, "alice").kind == "skip"
    assert server_tables.recently_acted_on(db, "alice", 10) == [3, 1]
    for _ in range(2):  # the skip, then the label
        server_tables.mark_undone(db, server_tables.last_action(db, "alice").seq)
    assert server_tables.last_action(db, "alice") is None and not server_tables.has_undoable_action(db, "alice")
    assert server_tables.has_undoable_action(db, "bob")


def test_an_annotators_assignments_answers_and_skips(run):
    db, store = run
    store.assign(1, [(1, "alice"), (3, "alice"), (1, "bob")])
    store.assign(2, [(3, "alice"), (0, "alice")])
    assert queries.open_examples(db, "alice") == [(1, 1), (1, 3), (2, 0)]  # 3 once, with its first round
    assert queries.latest_round_asked(db, "alice") == 2 and queries.latest_round_asked(db, "carol") is None
    store.add(1, "alice", 2, 1)
    store.skip(3, "alice", 1)
    assert queries.open_examples(db, "alice") == [(2, 0)]
    assert queries.round_progress(db, "alice", 1) == (2, 2) and queries.round_progress(db, "alice", 2) == (2, 1)
    assert queries.first_assigned_round(db, 3, "alice") == 1 and queries.first_assigned_round(db, 2, "alice") is None
    assert queries.assigned_to_another(db, 1, "alice") and not queries.assigned_to_another(db, 3, "alice")
    assert queries.may_see(db, "alice", 3) and queries.may_see(db, "bob", 1) and not queries.may_see(db, "bob", 3)
    assert queries.label_given(db, 1, "alice") == 2 and queries.label_given(db, 0, "alice") is None
    assert queries.label_given(db, 0, "given") == 0  # class 0 is a label, not "none"
    assert queries.annotation_of(db, 1, "alice") == (2, 1) and queries.annotation_of(db, 1, "bob") is None
    assert queries.skip_round(db, 3, "alice") == 1 and queries.skip_round(db, 1, "alice") is None
    assert queries.labelled_by_another(db, 1, "bob") and not queries.labelled_by_another(db, 1, "alice")
    assert queries.annotators_involved(db, 1) == {"alice", "bob"}
    assert queries.annotators_involved(db, 0) == {"given", "alice"}
    open_now = queries.open_assignments(db)
    assert [(r, e, a) for r, e, a, _ in open_now] == [(1, 1, "bob"), (2, 0, "alice")]
    assert all(isinstance(when, float) and when > 1.6e9 for *_, when in open_now)
    assert store.unskip(3, "alice") and not store.unskip(3, "alice")
    assert queries.skip_round(db, 3, "alice") is None and (1, 3) in queries.open_examples(db, "alice")


def test_the_organisers_figures(run):
    db, store = run
    assert queries.run_settings(db)["annotator_names"] == ["alice", "bob"]
    store.assign(1, [(1, "alice"), (3, "alice"), (1, "bob"), (3, "bob")])
    store.add(1, "alice", 2, 1)
    store.add(1, "bob", 1, 1)
    store.skip(3, "bob", 1)
    assert queries.labels_per_annotator(db) == {"given": 2, "alice": 1, "bob": 1}
    assert queries.skips_per_annotator(db) == {"bob": 1}
    assert queries.open_per_annotator(db) == {"alice": 1}
    assert queries.open_in_round_per_annotator(db, 1) == {"alice": 1}
    assert queries.open_in_round_per_annotator(db, 2) == {}
    assert sorted(queries.answer_counts(db)) == [(0, 0, 1), (1, 1, 1), (1, 2, 1), (2, 1, 1)]
    assert queries.annotations_per_label(db) == {0: 1, 1: 2, 2: 1}
    assert queries.disagreed_examples(db) == [1]
    assert queries.answers_to(db, 1) == [("alice", 2), ("bob", 1)]
    assert queries.count_annotations_after(db, 0) == 4 and queries.count_annotations_after(db, 2) == 2
    assert queries.latest_round_record(db) is None
    store.record_round(0, {"round": 0, "watermark": 2})
    store.record_round(1, {"round": 1, "watermark": 4})
    assert queries.latest_round_record(db) == {"round": 1, "watermark": 4}


def test_the_guess_prefers_the_probabilities_kept_when_the_example_was_picked(run):
    db, store = run
    assert queries.guess_probabilities(db, 1) is None
    store.save_probabilities("cv", 1, {1: [0.7, 0.2, 0.1]})
    assert queries.guess_probabilities(db, 1).tolist() == [0.7, 0.2, 0.1]
    store.assign(2, [(1, "alice")], probabilities={1: [0.1, 0.3, 0.6]})
    store.save_probabilities("cv", 3, {1: [0.5, 0.5, 0.0]})  # a later cross-validation does not displace it
    assert queries.guess_probabilities(db, 1).tolist() == [0.1, 0.3, 0.6]


# -- the Label Studio ledger ---------------------------------------------------------------------------


def test_the_pull_ledger_records_each_annotation_once_per_project_and_keeps_it(run, tmp_path):
    run_dir = tmp_path / "run"
    with PullLedger(run_dir) as ledger:
        assert ledger.pulled("http://ls/projects/1") == {}
        ledger.record("http://ls/projects/1", 11, "b", "alice", "stored", when=5.0, version="v1")
        ledger.record("http://ls/projects/1", 12, "d", None, "rejected", when=6.0, version="v1")
        ledger.record("http://ls/projects/1", 11, "b", "alice", "skip", when=7.0, version="v2")  # stored: kept as it was
        ledger.record("http://ls/projects/2", 11, "c", "bob", "skip", when=8.0)
    with PullLedger(run_dir) as again:  # committed at once, read back by a later pull
        assert again.pulled("http://ls/projects/1") == {11: ("stored", "v1"), 12: ("rejected", "v1")}
        assert again.pulled("http://ls/projects/2") == {11: ("skip", None)}
        again.record("http://ls/projects/1", 12, "d", "bob", "stored", when=9.0, version="v2")  # corrected: read again
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        assert columns(db, "labelstudio_pulled") == ["project", "annotation", "example_id", "annotator", "outcome",
                                                     "pulled", "version"]
        assert db.execute("SELECT * FROM labelstudio_pulled ORDER BY project, annotation").fetchall() == [
            ("http://ls/projects/1", 11, "b", "alice", "stored", 5.0, "v1"),
            ("http://ls/projects/1", 12, "d", "bob", "stored", 9.0, "v2"),
            ("http://ls/projects/2", 11, "c", "bob", "skip", 8.0, None)]


def test_a_ledger_made_before_versions_gets_the_column_once_when_two_processes_open_it(tmp_path):
    """A pull and a sync opening an older ledger at the same moment: one adds the version column, the other sees it
    (both adding it failed with "duplicate column name" in 23 of 30 trials)."""
    failures = []
    for trial in range(20):
        run_dir = tmp_path / f"run{trial}"
        run_dir.mkdir()
        with sqlite3.connect(run_dir / "run.sqlite") as db:
            # a run store is in WAL mode from its creation (and WAL persists): switching a file's journal mode needs
            # it to oneself, which two openers racing here would not get ("database is locked" in 1 of 20 trials)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE labelstudio_pulled (project TEXT NOT NULL, annotation INTEGER NOT NULL, example_id "
                       "TEXT NOT NULL, annotator TEXT, outcome TEXT NOT NULL, pulled REAL NOT NULL, "
                       "PRIMARY KEY (project, annotation))")
            db.execute("INSERT INTO labelstudio_pulled VALUES ('p', 1, 'a', 'alice', 'rejected', 1.0)")
        barrier = threading.Barrier(2)

        def open_ledger():
            barrier.wait()
            try:
                PullLedger(run_dir).close()
            except sqlite3.Error as exc:
                failures.append(exc)

        threads = [threading.Thread(target=open_ledger) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        with PullLedger(run_dir) as ledger:
            assert ledger.pulled("p") == {1: ("rejected", None)}  # an older row: no version, read again by a pull
    assert failures == []


def test_the_pages_open_assignments_are_the_sessions(run, tmp_path):
    """An open assignment is written twice: in SQL for the organiser's page (a request reads no snapshot) and in numpy
    for the session (Snapshot.pending); after answers, skips, a skip taken back and a removed label both name the same
    (round, example, annotator) rows."""
    from autoal.store.run_state import open_run

    db, store = run
    store.assign(1, [(1, "alice"), (3, "alice"), (1, "bob"), (3, "bob"), (0, "bob")])
    store.add(1, "alice", 2, 1)
    store.skip(3, "bob", 1)
    store.assign(2, [(2, "alice"), (2, "bob")])
    store.add(2, "bob", 0, 2)
    store.skip(2, "alice", 2)
    store.unskip(2, "alice")
    store.add(0, "bob", 1, 1)
    assert store.remove(0, "bob")
    state = open_run(tmp_path / "run")
    try:
        rounds, examples, names = state.snapshot().pending()
        in_numpy = sorted(zip(rounds.tolist(), examples.tolist(), names.tolist()))
    finally:
        state.close()
    in_sql = sorted((r, e, a) for r, e, a, _ in queries.open_assignments(db))
    assert in_sql == in_numpy == [(1, 0, "bob"), (1, 1, "bob"), (1, 3, "alice"), (2, 2, "alice")]
    per_round = {}
    for r, _, a in in_numpy:
        per_round.setdefault(r, {}).setdefault(a, 0)
        per_round[r][a] += 1
    assert {r: queries.open_in_round_per_annotator(db, r) for r in (1, 2)} == per_round
