"""A run's model on disk: saved every round, loaded without the run and without running code, predicting exactly
what the run's learner predicts; ``autoal predict`` on a folder, a manifest and the pool; a final model."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest
from conftest import FixedLearner, write_images

import autoal
from autoal.cli.commands import main
from autoal.errors import InputError
from autoal.learners import LEARNERS
from autoal.results.model import load_model


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished run of the default learner (embeddings) on colour images, and new images it never saw."""
    import os

    home = tmp_path_factory.mktemp("saved")
    saved = os.environ.get("AUTOAL_EMBEDDING_CACHE")
    os.environ["AUTOAL_EMBEDDING_CACHE"] = str(home / "cache")  # for the run; each test sets its own after
    try:
        images = write_images(home / "images", 10, size=40)
        result = autoal.run(images, batch_size=4, n_rounds=2, initial_per_class=2, output_dir=home / "run",
                            verbose=False)
    finally:
        os.environ.pop("AUTOAL_EMBEDDING_CACHE") if saved is None else os.environ.update(AUTOAL_EMBEDDING_CACHE=saved)
    new = write_images(home / "new", 3, size=40, seed=7)
    return result, images, new, home


def test_the_saved_model_predicts_exactly_what_the_run_s_learner_predicts(finished, monkeypatch):
    result, images, new, home = finished
    monkeypatch.setenv("AUTOAL_EMBEDDING_CACHE", str(home / "cache"))
    frame = pd.concat([images, new], ignore_index=True).drop(columns=["label"])
    expected = result.learner.predict_proba(frame)
    model = load_model(result.output_dir)
    assert model.info["learner"] == "embeddings" and model.info["round"] == 2 and model.classes == result.classes
    assert model.info["n_labeled"] == int(result.history["n_labeled"].iloc[-1])
    assert result.learner.graph_head_ is not None, "the default learner mixes in the pool graph"
    assert model.learner.graph_head_.weight == result.learner.graph_head_.weight
    assert np.array_equal(model.predict_proba(frame), expected), "bit for bit, new images included"
    assert list(model.predict(new)) == list(np.asarray(result.classes)[expected[len(images):].argmax(axis=1)])


def test_the_saved_model_is_json_arrays_and_safetensors_and_loads_without_unpickling(finished, monkeypatch):
    result, images, new, home = finished
    folder = result.output_dir / "model"
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert files == ["arrays.npz", "backbones/0/config.json", "backbones/0/model.safetensors", "backbones/1/config.json",
                     "backbones/1/model.safetensors", "model.json"]
    info = json.loads((folder / "model.json").read_text())
    assert info["runs_code"] is False and info["state"]["image_size"] in (160, 224)
    assert {b["architecture"] for b in info["state"]["backbones"]} == {"mobilenetv2_100", "tf_efficientnet_lite0"}

    def refuse(*args, **kwargs):
        raise AssertionError("loading a saved model must not unpickle anything")

    import torch

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setenv("AUTOAL_EMBEDDING_CACHE", str(home / "empty-cache"))  # the networks must run from the copies
    probs = load_model(result.output_dir).predict_proba(new.drop(columns=["label"]))
    assert probs.shape == (len(new), 3) and np.allclose(probs.sum(axis=1), 1)


def test_predict_writes_labels_confidences_and_probabilities_for_a_folder_and_a_manifest(finished, tmp_path, capsys,
                                                                                          monkeypatch):
    result, images, new, home = finished
    monkeypatch.setenv("AUTOAL_EMBEDDING_CACHE", str(home / "cache"))
    out = tmp_path / "folder.csv"
    assert main(["predict", str(result.output_dir), str(home / "new"), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    columns = [f"p_{c}" for c in result.classes]
    assert list(table.columns) == ["example", "predicted_label", "confidence"] + columns
    assert table["example"].tolist() == sorted(f"{c}/{c}_{i:03d}.png" for c in ("red", "green", "blue") for i in range(3))
    expected = result.learner.predict_proba(pd.DataFrame({"image_path": [str(home / "new" / e) for e in table["example"]]}))
    assert np.allclose(table[columns].to_numpy(), expected, atol=1e-12)
    assert (table["confidence"] == table[columns].max(axis=1)).all()
    assert f"wrote {out}: 9 predictions by the embeddings model of round 2" in capsys.readouterr().out
    manifest = tmp_path / "m.csv"
    pd.DataFrame({"image_path": [str(p) for p in new["image_path"]]}).to_csv(manifest, index=False)
    assert main(["predict", str(result.output_dir), str(manifest), "--out", str(tmp_path / "m_out.csv")]) == 0
    assert pd.read_csv(tmp_path / "m_out.csv")["predicted_label"].tolist() == new["label"].tolist()


def test_predict_pool_labels_the_rest_with_a_count_above_the_chosen_confidence(finished, capsys, monkeypatch):
    result, images, new, home = finished
    monkeypatch.setenv("AUTOAL_EMBEDDING_CACHE", str(home / "cache"))
    assert main(["predict", str(result.output_dir), "--pool", "--min-confidence", "0.8"]) == 0
    table = pd.read_csv(result.output_dir / "predictions" / "pool.csv")
    n_pool = len(images) - len(result.test_ids) - int(result.history["n_labeled"].iloc[-1])
    assert len(table) == n_pool and not set(table["example"]) & set(result.labels["example_id"])
    assert table["confidence"].is_monotonic_decreasing and "image_path" in table.columns
    confident = int((table["confidence"] >= 0.8).sum())
    out = capsys.readouterr().out
    assert f": {n_pool} predictions by the embeddings model" in out and f"; {confident} (" in out
    assert f"with confidence >= 0.8 ({result.classes[0]}: " in out
    truth = images.loc[table["example"], "label"].to_numpy()
    assert (table["predicted_label"].to_numpy() == truth).mean() > 0.9


def test_what_predict_refuses_names_the_fix(finished, tmp_path, monkeypatch):
    result, images, new, home = finished
    with pytest.raises(InputError, match="holds no saved model yet"):
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "run.sqlite").write_bytes(b"")
        load_model(tmp_path / "run")
    with pytest.raises(InputError, match="holds no final model; fit one with `autoal train"):
        load_model(result.output_dir, which="final")
    model = load_model(result.output_dir)
    with pytest.raises(InputError, match="lacks the column.*'image_path'"):
        model.predict_proba(pd.DataFrame({"path": ["x.png"]}))
    with pytest.raises(InputError, match="1 image file.*do not exist"):
        model.predict_proba(pd.DataFrame({"image_path": [str(tmp_path / "missing.png")]}))
    with pytest.raises(InputError, match="holds no image files"):
        autoal.results.predict.predict_images(result.output_dir, tmp_path)


class TableLearner(FixedLearner):
    """A learner added by someone else: registered in LEARNERS with its own save_fitted/load_fitted."""

    def save_fitted(self, folder):
        ids = list(self.probs)
        return {"ids": ids}, {"probs": np.array([self.probs[i] for i in ids])}

    @classmethod
    def load_fitted(cls, state, arrays, folder):
        return cls(dict(zip(state["ids"], arrays["probs"])))


def test_a_new_learner_saves_and_loads_through_its_two_hooks(tmp_path, monkeypatch):
    images = write_images(tmp_path / "img", 4)
    probs = {i: np.eye(3)[k % 3] * 0.8 + 0.2 / 3 for k, i in enumerate(images.index)}
    monkeypatch.setitem(LEARNERS, "table", TableLearner)
    result = autoal.run(images, learner=TableLearner(probs), strategy="margin", batch_size=2, n_rounds=1,
                        initial_per_class=2, output_dir=tmp_path / "run", verbose=False)
    frame = images.drop(columns=["label"]).loc[[images.index[0], images.index[5]]]
    loaded = load_model(result.output_dir)
    assert loaded.info["learner"] == "table" and isinstance(loaded.learner, TableLearner)
    assert np.array_equal(loaded.predict_proba(frame), result.learner.predict_proba(frame))


def test_an_unsaveable_learner_leaves_a_note_and_the_run_goes_on(tmp_path, capsys):
    images = write_images(tmp_path / "img", 4)
    result = autoal.run(images, learner=FixedLearner({}), strategy="margin", batch_size=2, n_rounds=1,
                        initial_per_class=2, output_dir=tmp_path / "run")
    assert len(result.history) == 2 and not (tmp_path / "run" / "model").exists()
    out = capsys.readouterr().out
    assert out.count("the run's model is not saved: FixedLearner is not registered") == 1


@pytest.mark.autogluon
def test_a_final_autogluon_model_is_compared_on_the_holdout_saved_and_predicts(finished, tmp_path, capsys, monkeypatch):
    result, images, new, home = finished
    monkeypatch.setenv("AUTOAL_EMBEDDING_CACHE", str(home / "cache"))
    code = main(["train", str(result.output_dir), "--learner", "autogluon", "--max-epochs", "2", "--image-size", "32",
                 "--fits-per-round", "1"])
    out = capsys.readouterr().out
    assert code == 0 and "final autogluon model, fitted in" in out and "the run's own model (embeddings, round 2" in out
    info = json.loads((result.output_dir / "final-model" / "model.json").read_text())
    assert info["runs_code"] is True and info["n_labeled"] == int(result.history["n_labeled"].iloc[-1])
    assert info["fit_seconds"] > 0 and 0 <= info["accuracy"] <= 1 and info["run_accuracy"] == result.final_accuracy
    with pytest.warns(UserWarning, match="pickles: loading it runs code"):
        final = load_model(result.output_dir, which="final")
    probs = final.predict_proba(new.drop(columns=["label"]))
    assert probs.shape == (len(new), 3) and np.allclose(probs.sum(axis=1), 1)
    assert main(["predict", str(result.output_dir), str(home / "new"), "--model", "final",
                 "--out", str(tmp_path / "final.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "final.csv")) == len(new)
