import multiprocessing
import sqlite3

import numpy as np
import pytest

from autoal.errors import InputError
from autoal.store import DuplicateAnnotation, LabelStore


def test_annotations_round_trip_keeping_types(tmp_path):
    store = LabelStore(tmp_path / "labels.sqlite")
    store.add(7, "alice", "cat", round=1)
    store.add("img-3", "bob", 2, round=2)
    frame = store.annotations()
    assert frame[["example_id", "annotator", "label", "round"]].values.tolist() == [[7, "alice", "cat", 1], ["img-3", "bob", 2, 2]]
    assert len(store) == 2
    again = LabelStore(tmp_path / "labels.sqlite", run_id=store.run_id)
    assert again.annotations()["example_id"].tolist() == [7, "img-3"]


def test_same_annotator_cannot_label_an_example_twice(tmp_path):
    store = LabelStore(tmp_path / "s.sqlite")
    store.add(1, "alice", "cat", round=1)
    store.add(1, "bob", "dog", round=1)
    with pytest.raises(DuplicateAnnotation, match="'alice' already labelled example 1"):
        store.add(1, "alice", "dog", round=2)
    assert len(store) == 2


def test_wide_matrix_for_cleanlab(tmp_path):
    store = LabelStore(tmp_path / "s.sqlite")
    for e, a, lab in [(1, "a", "x"), (1, "b", "y"), (2, "b", "z"), (3, "c", "x")]:
        store.add(e, a, lab, round=0)
    m = store.matrix([1, 2, 3], ["a", "b", "c"], ["x", "y", "z"])
    np.testing.assert_array_equal(m, [[0, 1, np.nan], [np.nan, 2, np.nan], [np.nan, np.nan, 0]])


def test_pending_assignments(tmp_path):
    store = LabelStore(tmp_path / "s.sqlite")
    store.assign(1, [(1, "a"), (2, "a"), (3, "b")])
    store.add(2, "a", "x", round=1)
    pending = store.assignments(1, pending_only=True)
    assert list(zip(pending["example_id"], pending["annotator"])) == [(1, "a"), (3, "b")]
    assert len(store.assignments(1)) == 3 and store.assignments(2).empty


def test_store_from_another_run_is_refused(tmp_path):
    store = LabelStore(tmp_path / "s.sqlite")
    with pytest.raises(InputError, match="belongs to run .* not to run other"):
        LabelStore(tmp_path / "s.sqlite", run_id="other")
    assert store.run_id


def test_store_with_a_newer_schema_is_refused(tmp_path):
    LabelStore(tmp_path / "s.sqlite").close()
    db = sqlite3.connect(tmp_path / "s.sqlite")
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(InputError, match="schema version 99, newer than this autoal's 1; upgrade autoal"):
        LabelStore(tmp_path / "s.sqlite")


def test_a_file_that_is_not_a_store(tmp_path):
    (tmp_path / "s.sqlite").write_text("hello, not a database" * 100)
    with pytest.raises(InputError, match="is not an autoal label store"):
        LabelStore(tmp_path / "s.sqlite")


def _writer(path, annotator, n):
    store = LabelStore(path)
    for i in range(n):
        store.add(i, annotator, "x", round=1)


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "s.sqlite"
    LabelStore(path).close()
    procs = [multiprocessing.get_context("spawn").Process(target=_writer, args=(path, name, 200)) for name in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    frame = LabelStore(path).annotations()
    assert len(frame) == 400 and frame.groupby("annotator").size().to_dict() == {"a": 200, "b": 200}
