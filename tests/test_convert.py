"""Converting a run folder of the pickle era (schema 1) into a run store, without reading a pickle."""

import json
import pickle
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import stored_labels, write_images

import autoal
from autoal.cli.commands import main
from autoal.store.convert import convert_run
from autoal.data.prepare import prepare_data
from autoal.errors import InputError

# The store of autoal before the run store: ids and labels as JSON text.
SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE annotations (seq INTEGER PRIMARY KEY AUTOINCREMENT, example_id TEXT NOT NULL, annotator TEXT NOT NULL,
    label TEXT NOT NULL, round INTEGER NOT NULL, timestamp REAL NOT NULL, UNIQUE (example_id, annotator));
CREATE TABLE assignments (round INTEGER NOT NULL, example_id TEXT NOT NULL, annotator TEXT NOT NULL,
    PRIMARY KEY (round, example_id, annotator));
INSERT INTO meta VALUES ('schema_version', '1'), ('run_id', 'abc'), ('created', '2026-11-20T10:00:00');
"""


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "code ran"))


def settings(out):
    names = ["annotator_1", "annotator_2"]
    specs = [{"kind": "simulated", "name": n, "accuracy": 0.9, "noise_matrix": None, "random_state": k}
             for k, n in enumerate(names)]
    return {"label": "label", "image_col": "image_path", "id_col": None, "batch": "topk", "candidates_factor": 10,
            "initial": "random", "batch_size": 4, "n_rounds": 2, "initial_per_class": 2, "learner_options": None,
            "relabel": True, "output_dir": str(out), "random_state": 0, "target_accuracy": None, "pool_subsample": None,
            "holdout_fraction": 0.2, "classes": None, "drop_bad_images": False, "verbose": False, "learner": "fast",
            "strategy": "activelab", "scoring": None, "stop": None, "strategy_used": "activelab", "run_id": "abc",
            "annotators": specs, "annotator_names": names}


@pytest.fixture
def old_run(tmp_path):
    """A schema-1 folder after round 1 of 2: the initial set, four round-1 labels, and pickles that must stay shut."""
    df = write_images(tmp_path / "img", 8)
    df.to_csv(tmp_path / "data.csv", index=False)
    out = tmp_path / "run"
    out.mkdir()
    config = settings(out)
    (out / "settings.json").write_text(json.dumps(config))
    data = prepare_data(df, test_df=None, label="label", image_col="image_path", id_col=None, initial_per_class=2,
                        holdout_fraction=0.2, classes=None, drop_bad_images=False, rng=np.random.default_rng(0))
    initial = list(data.initial_ids)
    later = [i for i in data.frame.index if i not in initial][:4]
    rows = [(i, config["annotator_names"][k % 2], df.at[i, "label"], 0) for k, i in enumerate(initial)]
    rows += [(i, "annotator_1", df.at[i, "label"], 1) for i in later]
    db = sqlite3.connect(out / "labels.sqlite")
    db.executescript(SCHEMA_1)
    db.executemany("INSERT INTO annotations (example_id, annotator, label, round, timestamp) VALUES (?, ?, ?, ?, 1.0)",
                   [(json.dumps(e), a, json.dumps(lab), r) for e, a, lab, r in rows])
    db.executemany("INSERT INTO assignments VALUES (?, ?, ?)", [(r, json.dumps(e), a) for e, a, _, r in rows])
    db.commit()
    db.close()
    history = [{"round": r, "n_labeled": n, "accuracy": 1.0, "picked_ids": json.dumps(ids)}
               for r, n, ids in ((0, 6, initial), (1, 10, later))]
    pd.DataFrame(history).to_csv(out / "history.csv", index=False)
    for name in ("data.pkl", "pick_probs.pkl"):
        (out / name).write_bytes(pickle.dumps(_Payload(str(tmp_path / "pwned"))))
    return out, tmp_path / "data.csv", rows


def test_an_old_folder_converts_from_its_manifest_and_resumes(old_run, tmp_path, capsys):
    out, manifest, rows = old_run
    assert main(["convert", str(out), "--manifest", str(manifest)]) == 0
    assert "continue with `autoal resume" in capsys.readouterr().out
    labels = stored_labels(out)
    assert list(labels.itertuples(index=False, name=None)) == [(e, a, lab, r) for e, a, lab, r in rows]
    assert sorted(p.name for p in (out / "old-format").iterdir()) == [
        "data.pkl", "history.csv", "labels.sqlite", "pick_probs.pkl", "settings.json"]
    result = autoal.resume(out, verbose=False)
    assert result.history["round"].tolist() == [0, 1, 2]
    assert result.history["n_labeled"].tolist()[:2] == [6, 10] and result.history["n_annotations"].iloc[-1] == 14
    assert not (tmp_path / "pwned").exists(), "a pickle was loaded"


def test_an_empty_run_sqlite_is_replaced_and_another_program_s_is_refused(old_run):
    out, manifest, rows = old_run
    with sqlite3.connect(out / "run.sqlite") as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    with pytest.raises(InputError, match="cannot read as a run store"):
        convert_run(out, pd.read_csv(manifest))
    assert (out / "data.pkl").exists() and not (out / "old-format").exists(), "nothing moved"
    (out / "run.sqlite").write_bytes(b"")  # as opening the path with sqlite3 leaves it
    convert_run(out, pd.read_csv(manifest))
    assert len(stored_labels(out)) == len(rows)


def test_other_data_than_the_runs_is_refused_and_nothing_moves(old_run, tmp_path):
    out, _, _ = old_run
    other = write_images(tmp_path / "other", 8, seed=5).set_axis(range(100, 124))
    with pytest.raises(InputError, match="missing from its pool.*the run was started with"):
        convert_run(out, other)
    shuffled = pd.read_csv(tmp_path / "data.csv").sample(frac=1.0, random_state=3)
    with pytest.raises(InputError, match="(missing from its pool|initial set .* differs).*the run was started with"):
        convert_run(out, shuffled)  # another order: another holdout and initial set
    assert (out / "data.pkl").exists() and not (out / "run.sqlite").exists()
    assert not (tmp_path / "pwned").exists()


def test_convert_refuses_what_is_not_an_old_run(tmp_path, images):
    with pytest.raises(InputError, match="not an old-format autoal run folder"):
        convert_run(tmp_path, images)
    autoal.run(images, learner="fast", strategy="margin", batch_size=2, n_rounds=1, initial_per_class=2,
               output_dir=tmp_path / "new", verbose=False)
    with pytest.raises(InputError, match="already has a run store"):
        convert_run(tmp_path / "new", images)
