"""The run store: examples with their dtypes, annotations, assignments, skips, probabilities and rounds in one SQLite file."""

import json
import multiprocessing
import os
import pickle
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autoal.data.prepare import PreparedData
from autoal.errors import InputError
from autoal.store.run_state import RunState, open_run
from autoal.store.run_store import DuplicateAnnotation, RunStore

SETTINGS = {"label": "label", "image_col": "image_path", "annotator_names": ["alice", "bob"], "random_state": 0}


def data(frame=None, test=None, simulation=False, classes=("cat", "dog", "eel")):
    frame = frame if frame is not None else pd.DataFrame(
        {"label": ["cat", np.nan, "dog", np.nan], "image_path": ["a.png", "b.png", "c.png", "d.png"]},
        index=pd.Index([7, "img-3", 9, "x"], dtype=object))
    test = test if test is not None else frame.iloc[:0]
    initial = [i for i in frame.index if pd.notna(frame.at[i, "label"])]
    return PreparedData(frame, test, list(classes), initial, simulation, "none (holdout_fraction=0)")


def test_examples_round_trip_with_their_dtypes(tmp_path):
    frame = pd.DataFrame({
        "label": [0, 1, 2], "image_path": [Path("/a.png"), "/b.png", "/c.png"], "age": [31, 42, 7],
        "score": [0.5, np.nan, 2.25], "flag": [True, False, True], "kind": pd.Categorical(["x", "y", "x"]),
        "when": pd.to_datetime(["2026-01-01 00:00", "2026-02-03 04:05", None]), "maybe": pd.array([1, None, 3], dtype="Int64"),
        "note": ["a", None, "c"]}, index=pd.Index(["r1", "r2", "r3"], name="rid"))
    test = frame.iloc[:1].set_axis(pd.Index(["r1"], name="rid"))  # the same id may be in the holdout
    state = RunState.create(tmp_path / "run", data(frame, test, simulation=True, classes=(0, 1, 2)), SETTINGS,
                            given_labels=False)
    state.close()
    back = open_run(tmp_path / "run")
    expected = frame.assign(image_path=["/a.png", "/b.png", "/c.png"], label=pd.Series([0, 1, 2], index=frame.index, dtype=object))
    pd.testing.assert_frame_equal(back.data.frame, expected)
    assert back.data.test.index.tolist() == ["r1"] and back.data.classes == [0, 1, 2]
    assert back.data.initial_ids == ["r1", "r2", "r3"] and back.data.simulation


@pytest.mark.parametrize("column, message", [
    ([[1], [2], [3]], "holds list values"),
    ([object(), object(), object()], "holds object values"),
])
def test_columns_autoal_cannot_store_are_named(tmp_path, column, message):
    frame = pd.DataFrame({"label": ["cat", "dog", "cat"], "image_path": ["a", "b", "c"], "weird": column})
    with pytest.raises(InputError, match=f"column 'weird' {message}.*convert it"):
        RunState.create(tmp_path / "run", data(frame), SETTINGS)
    assert not (tmp_path / "run" / "run.sqlite").exists()


def test_given_labels_are_stored_with_the_run_and_ids_keep_their_types(tmp_path):
    state = RunState.create(tmp_path / "run", data(), SETTINGS)
    labels = state.labels_table()
    assert labels[["example_id", "annotator", "label", "round"]].values.tolist() == [[7, "given", "cat", 0], [9, "given", "dog", 0]]
    state.add_label(state.positions(["img-3"])[0], "alice", 2, 1)
    assert state.labels_table()["example_id"].tolist() == [7, 9, "img-3"]
    with sqlite3.connect(tmp_path / "run" / "run.sqlite") as db:  # the readable view for people
        assert db.execute("SELECT example_id, annotator, label FROM labels").fetchall()[-1] == ('"img-3"', "alice", "eel")


def test_same_annotator_cannot_label_an_example_twice(tmp_path):
    state = RunState.create(tmp_path / "run", data(), SETTINGS)
    state.add_label(1, "alice", 0, 1)
    state.add_label(1, "bob", 1, 1)
    with pytest.raises(DuplicateAnnotation, match="'alice' already labelled example"):
        state.add_label(1, "alice", 1, 2)
    assert len(state.store) == 4


def test_snapshots_read_only_new_annotations_and_reload_after_an_edit(tmp_path):
    state = RunState.create(tmp_path / "run", data(), SETTINGS)
    first = state.snapshot()
    state.add_label(1, "alice", 2, 1)
    second = state.snapshot()
    assert (first.n_annotations, second.n_annotations) == (2, 3)
    other = open_run(tmp_path / "run")  # another process changes a label
    assert other.store.change_label(1, "alice", 0)
    assert state.snapshot().label.tolist() == [0, 1, 0]
    assert other.store.remove(1, "alice") and state.snapshot().n_annotations == 2


def test_assignments_skips_and_pending(tmp_path):
    state = RunState.create(tmp_path / "run", data(), SETTINGS)
    state.assign(1, [(1, "alice"), (3, "alice"), (1, "bob")], probabilities={1: [0.2, 0.3, 0.5]})
    state.add_label(1, "alice", 0, 1)
    state.skip(3, "alice", 1)
    rounds, examples, names = state.snapshot().pending()
    assert list(zip(rounds, examples, names)) == [(1, 1, "bob")]
    examples, probs = state.store.probabilities("pick", 3)
    assert examples.tolist() == [1] and probs.tolist() == [[0.2, 0.3, 0.5]]


def test_round_records_and_stop_predictions_round_trip(tmp_path):
    state = RunState.create(tmp_path / "run", data(), SETTINGS)
    state.store.record_round(0, {"round": 0, "accuracy": float("nan"), "picked_ids": [7, "x"]}, np.array([2, 0, 1]))
    (record, predictions), = open_run(tmp_path / "run").store.rounds()
    assert record["picked_ids"] == [7, "x"] and np.isnan(record["accuracy"])
    assert predictions.tolist() == [2, 0, 1]


def test_a_store_with_another_schema_version_is_refused(tmp_path):
    RunState.create(tmp_path / "run", data(), SETTINGS).close()
    with sqlite3.connect(tmp_path / "run" / "run.sqlite") as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(InputError, match="schema version 99; this autoal reads version 2: upgrade autoal"):
        open_run(tmp_path / "run")


def test_a_file_that_is_not_a_store(tmp_path):
    (tmp_path / "run.sqlite").write_text("hello, not a database" * 100)
    with pytest.raises(InputError, match="is not an autoal run store"):
        RunStore.open(tmp_path / "run.sqlite")
    with pytest.raises(InputError, match="is not an autoal run folder"):
        open_run(tmp_path / "elsewhere")


class _Payload:
    """Unpickling this writes a file: proof that something ran code from the folder."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "code ran"))


def test_an_old_format_folder_with_a_pickle_payload_runs_nothing(tmp_path):
    import autoal

    folder, marker = tmp_path / "old", tmp_path / "pwned"
    folder.mkdir()
    for name in ("data.pkl", "pick_probs.pkl", "stop_predictions.pkl"):
        (folder / name).write_bytes(pickle.dumps(_Payload(str(marker))))
    (folder / "settings.json").write_text(json.dumps(SETTINGS))
    sqlite3.connect(folder / "labels.sqlite").close()
    for attempt in (lambda: autoal.resume(folder), lambda: open_run(folder),
                    lambda: autoal.run(pd.DataFrame({"label": ["a", "b"], "image_path": ["x", "y"]}), output_dir=folder)):
        with pytest.raises(InputError, match="written by an earlier autoal.*data.pkl, a pickle.*autoal convert"):
            attempt()
    assert not marker.exists()


def test_a_pickle_where_the_store_should_be_is_refused(tmp_path):
    folder, marker = tmp_path / "run", tmp_path / "pwned"
    folder.mkdir()
    (folder / "run.sqlite").write_bytes(pickle.dumps(_Payload(str(marker))))
    with pytest.raises(InputError, match="is not an autoal run store"):
        open_run(folder)
    assert not marker.exists()


def test_creation_is_atomic(tmp_path, monkeypatch):
    from autoal.store import example_table

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed while writing the examples")

    monkeypatch.setattr(example_table, "insert_frame", crash)
    with pytest.raises(KeyboardInterrupt):
        RunState.create(tmp_path / "run", data(), SETTINGS)
    assert not (tmp_path / "run" / "run.sqlite").exists()  # nothing half-made where a run is looked for
    monkeypatch.undo()
    state = RunState.create(tmp_path / "run", data(), SETTINGS)  # the same folder takes a new run
    assert len(state.store) == 2


def test_an_empty_store_file_takes_a_new_run_and_a_foreign_one_is_left_alone(tmp_path, images):
    import autoal

    empty = tmp_path / "empty"
    empty.mkdir()
    sqlite3.connect(empty / "run.sqlite").close()  # what opening the path with sqlite3 before the run leaves: 0 bytes
    with pytest.raises(InputError, match="is empty: no run was written to it; start a new run in that folder"):
        autoal.resume(empty)
    assert (empty / "run.sqlite").stat().st_size == 0, "trying to resume it leaves it as it was"
    result = autoal.run(images, learner="fast", n_rounds=1, batch_size=3, initial_per_class=2, output_dir=empty,
                        verbose=False)
    assert len(result.labels) == 9 and len(open_run(empty).store) == 9

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    with sqlite3.connect(foreign / "run.sqlite") as db:
        db.execute("CREATE TABLE notes (text TEXT)")
        db.execute("INSERT INTO notes VALUES ('keep me')")
    before = (foreign / "run.sqlite").read_bytes()
    with pytest.raises(InputError, match="is a SQLite file but not an autoal run store"):
        autoal.resume(foreign)
    for attempt in (lambda: autoal.run(images, learner="fast", n_rounds=1, output_dir=foreign, verbose=False),
                    lambda: RunState.create(foreign, data(), SETTINGS)):
        with pytest.raises(InputError, match="holds a run.sqlite that autoal cannot read as a run store.*move that file"):
            attempt()
    assert (foreign / "run.sqlite").read_bytes() == before

    with pytest.raises(InputError, match="already holds a run; resume it"):
        RunState.create(empty, data(), SETTINGS)


def test_a_stale_write_ahead_log_is_not_read_into_a_new_store(tmp_path, images):
    """Another database's write-ahead log left beside the store's path: a new run's store does not replay it."""
    import shutil

    import autoal

    other = tmp_path / "other.sqlite"
    db = sqlite3.connect(other)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")  # everything stays in other.sqlite-wal
    db.execute("CREATE TABLE notes (text TEXT)")
    db.commit()
    folder = tmp_path / "run"
    folder.mkdir()
    shutil.copy(f"{other}-wal", folder / "run.sqlite-wal")
    db.close()
    result = autoal.run(images, learner="fast", n_rounds=1, batch_size=3, initial_per_class=2, output_dir=folder,
                        verbose=False)
    assert len(result.labels) == 9 and len(open_run(folder).store) == 9
    with sqlite3.connect(folder / "run.sqlite") as check:
        assert "notes" not in {r[0] for r in check.execute("SELECT name FROM sqlite_master")}


def _writer(folder, annotator, n):
    state = open_run(folder)
    for i in range(n):
        state.add_label(i, annotator, 0, 1)


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    frame = pd.DataFrame({"label": [np.nan] * 200, "image_path": ["p"] * 200})
    RunState.create(tmp_path / "run", data(frame).__class__(frame, frame.iloc[:0], ["cat"], [], False, "none"),
                    SETTINGS).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(tmp_path / "run", name, 200)) for name in ("alice", "bob")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    labels = open_run(tmp_path / "run").labels_table()
    assert len(labels) == 400 and labels.groupby("annotator").size().to_dict() == {"alice": 200, "bob": 200}
    assert os.path.exists(tmp_path / "run" / "settings.json")
