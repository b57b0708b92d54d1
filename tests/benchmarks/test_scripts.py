"""The scripts in scripts/: Caltech-256 protocol runner and offline dataset export."""

from pathlib import Path

import pandas as pd
import pytest
from conftest import load_file_module, write_images

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def load(name):
    return load_file_module(SCRIPTS / f"{name}.py")


def test_caltech_runner_says_what_to_download_when_absent(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("CALTECH256_DIR", raising=False)
    with pytest.raises(SystemExit, match="(?s)Caltech-256 was not found.*256_ObjectCategories.tar.*--root"):
        load("run_caltech256").main(["--out", str(tmp_path / "run"), "--learner", "fast"])


def test_caltech_runner_on_a_caltech_like_tree_then_resumes(tmp_path, capsys):
    tree = tmp_path / "256_ObjectCategories"
    for k, colour in enumerate(["red", "green", "blue", "grey"], 1):
        frame = write_images(tmp_path / "tmp", 10, classes=(colour,))
        folder = tree / f"{k:03d}.{colour}"
        folder.mkdir(parents=True)
        for i, p in enumerate(frame["image_path"]):
            Path(p).rename(folder / f"{k:03d}_{i:04d}.png")
    (tree / "004.grey").rename(tree / "257.clutter")
    runner = load("run_caltech256")
    argv = ["--root", str(tree), "--out", str(tmp_path / "run"), "--learner", "fast", "--init-per-class", "2",
            "--batch-size", "3", "--rounds", "1"]
    assert runner.main(argv) == 0
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert history["n_labeled"].tolist() == [6, 9]
    manifest = pd.read_csv(tmp_path / "run-manifest.csv")
    assert set(manifest["label"]) == {"001.red", "002.green", "003.blue"} and set(manifest["split"]) == {"train", "test"}
    assert runner.main(argv[:4] + ["--rounds", "1"]) == 0
    assert "holds an interrupted run: resuming it" in capsys.readouterr().out


def test_export_offline_datasets_digits(tmp_path):
    assert load("export_offline_datasets").main(["digits", "--data-dir", str(tmp_path)]) == 0
    assert len(pd.read_csv(tmp_path / "digits" / "manifest.csv")) == 1797


def test_fashion_mnist_absent_is_a_clear_error(tmp_path):
    from autoal.data.datasets import build_fashion_mnist
    from autoal.errors import InputError

    with pytest.raises(InputError, match="apt-get install dataset-fashion-mnist"):
        build_fashion_mnist(tmp_path, source=tmp_path / "nowhere")


def test_manifest_subcommand_through_the_cli(tmp_path, capsys):
    from autoal.cli.commands import main

    tree = tmp_path / "tree"
    for colour in ("red", "blue"):
        frame = write_images(tmp_path / "tmp", 3, classes=(colour,))
        (tree / colour).mkdir(parents=True)
        for i, p in enumerate(frame["image_path"]):
            Path(p).rename(tree / colour / f"{i}.png")
    assert main(["manifest", str(tree), "--out", str(tree / "m.csv"), "--sha256"]) == 0
    assert main(["manifest", "--check", str(tree / "m.csv")]) == 0
    (tree / "red" / "0.png").unlink()
    assert main(["manifest", "--check", str(tree / "m.csv")]) == 1
