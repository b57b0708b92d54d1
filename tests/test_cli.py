import io
import json

import numpy as np
import pandas as pd
import pytest
from conftest import write_images

import autoal
from autoal.cli.commands import main


@pytest.fixture
def manifest(tmp_path):
    df = write_images(tmp_path / "data" / "images", 12)
    df["image_path"] = [p.split("/data/")[1] for p in df["image_path"]]  # relative to the manifest's folder
    path = tmp_path / "data" / "manifest.csv"
    df.to_csv(path, index=False)
    return path


def test_run_on_a_manifest_with_relative_paths(manifest, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", str(manifest), "--learner", "fast", "--rounds", "2", "--batch-size", "4",
                 "--init-per-class", "2", "--out", str(out), "--seed", "3"])
    assert code == 0
    history = pd.read_csv(out / "history.csv")
    assert history["n_labeled"].tolist() == [6, 10, 14]
    assert json.loads((out / "summary.json").read_text())["settings"]["random_state"] == 3
    assert "round  2 | labels    14" in capsys.readouterr().out


def test_run_with_a_test_manifest(manifest, tmp_path):
    test_df = write_images(tmp_path / "test", 3)
    test_df.to_csv(tmp_path / "test.csv", index=False)
    assert main(["run", str(manifest), "--test", str(tmp_path / "test.csv"), "--learner", "fast", "--rounds", "1",
                 "--batch-size", "4", "--init-per-class", "2", "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["holdout"] == "test_df (9 rows)"


def test_errors_go_to_stderr_with_exit_status_2(tmp_path, capsys):
    code = main(["run", str(tmp_path / "nope.csv"), "--learner", "fast"])
    err = capsys.readouterr().err
    assert code == 2 and "autoal: error: manifest" in err and "does not exist" in err


def test_manifest_without_label_column(tmp_path, capsys):
    (tmp_path / "m.csv").write_text("path\nx.png\n")
    assert main(["run", str(tmp_path / "m.csv"), "--learner", "fast"]) == 2
    assert "has no column 'label'" in capsys.readouterr().err


def test_manifest_with_missing_images(manifest, tmp_path, capsys):
    df = pd.read_csv(manifest)
    df.loc[0, "image_path"] = "images/red/missing.png"
    df.to_csv(manifest, index=False)
    assert main(["run", str(manifest), "--learner", "fast", "--out", str(tmp_path / "o")]) == 2
    assert "missing.png does not exist" in capsys.readouterr().err
    assert main(["run", str(manifest), "--learner", "fast", "--out", str(tmp_path / "o"), "--drop-bad-images",
                 "--rounds", "1", "--batch-size", "2", "--init-per-class", "2", "--quiet"]) == 0


@pytest.mark.parametrize("argv,message", [
    (["--strategy", "best"], "invalid choice: 'best'"),
    (["--learner", "xgb"], "invalid choice: 'xgb'"),
    (["--batch-size", "0"], "must be an integer >= 1, got 0"),
    (["--rounds", "two"], "'two' is not an integer"),
])
def test_bad_arguments_are_rejected_by_the_parser(manifest, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(["run", str(manifest)] + argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_demo_builds_digits_offline_and_runs_random_picks_beside_the_default(tmp_path, capsys):
    code = main(["demo", "--learner", "fast", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "out"),
                 "--rounds", "1", "--quiet"])
    assert code == 0
    manifest = pd.read_csv(tmp_path / "data" / "digits" / "manifest.csv")
    assert len(manifest) == 1797 and sorted(manifest["label"].unique()) == list(range(10))
    chosen = pd.read_csv(tmp_path / "out" / "default" / "history.csv")
    random = pd.read_csv(tmp_path / "out" / "random" / "history.csv")
    assert chosen["n_labeled"].tolist() == random["n_labeled"].tolist() == [80, 130]
    settings = json.loads((tmp_path / "out" / "random" / "settings.json").read_text())
    assert settings["strategy"] == "random" and settings["random_state"] == 0
    out = capsys.readouterr().out
    for a, b in zip(chosen["accuracy"], random["accuracy"]):
        assert f"{a:>8.3f}  {b:>8.3f}" in out, "both curves, round by round"
    assert "random's final accuracy" in out and ("labels saved" in out or "did not reach" in out)


def test_manifest_with_bom_and_windows_line_endings_loads(manifest):
    from autoal.data.manifest import load_manifest

    text = manifest.read_text()
    manifest.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    df = load_manifest(manifest)
    assert list(df.columns) == ["label", "image_path"] and len(df) == 36
    assert df["image_path"].map(lambda p: p.startswith("/")).all()


def test_manifest_that_is_not_utf8(tmp_path, capsys):
    (tmp_path / "m.csv").write_bytes("label,image_path\ncaf\xe9,x.png\n".encode("latin-1"))
    assert main(["run", str(tmp_path / "m.csv"), "--learner", "fast"]) == 2
    assert "is not a readable UTF-8 CSV" in capsys.readouterr().err


def test_unlabelled_manifest_without_annotators_names_the_cli_flags(manifest, tmp_path, capsys):
    df = pd.read_csv(manifest)
    df.loc[df.groupby("label").cumcount() >= 4, "label"] = None
    df.to_csv(manifest, index=False)
    assert main(["run", str(manifest), "--learner", "fast", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "has 24 rows without a label and nobody to label them: pass --annotators alice,bob" in err
    assert "--terminal NAME" in err and "annotators=" not in err
    assert not (tmp_path / "o").exists()


def test_file_round_trip_through_the_cli(manifest, tmp_path, capsys):
    df = pd.read_csv(manifest)
    truth = df["label"].copy()
    df.loc[df.groupby("label").cumcount() >= 4, "label"] = None
    df.to_csv(manifest, index=False)
    out = tmp_path / "team"
    assert main(["run", str(manifest), "--learner", "fast", "--annotators", "alice", "--batch-size", "3",
                 "--rounds", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "autoal: paused: round 1 waits for labels from alice (3 of 3 pending)" in printed
    assert "stopped" not in printed and "final accuracy" not in printed
    assert main(["export-batch", str(out), "--annotator", "alice", "--out", str(tmp_path / "b.csv")]) == 0
    batch = pd.read_csv(tmp_path / "b.csv")
    batch["label"] = [truth[i] for i in batch["example_id"]]
    batch.to_csv(tmp_path / "b.csv", index=False)
    assert main(["import-labels", str(out), str(tmp_path / "b.csv"), "--annotator", "alice"]) == 0
    assert main(["resume", str(out), "--quiet"]) == 0
    assert pd.read_csv(out / "history.csv")["n_labeled"].tolist() == [9, 12]


def test_run_with_the_selection_and_stopping_flags(manifest, tmp_path):
    out = tmp_path / "out"
    assert main(["run", str(manifest), "--learner", "fast", "--rounds", "6", "--batch-size", "3", "--init-per-class", "2",
                 "--batch", "kmeans", "--candidates-factor", "4", "--initial", "kmeans", "--stop-stable",
                 "--pool-subsample", "12", "--out", str(out), "--quiet"]) == 0
    history = pd.read_csv(out / "history.csv")
    same = autoal.run(autoal.load_manifest(manifest), learner="fast", n_rounds=6, batch_size=3, initial_per_class=2,
                      batch="kmeans", candidates_factor=4, initial="kmeans", stop="stable", pool_subsample=12,
                      output_dir=tmp_path / "python", verbose=False)
    assert history["picked_ids"].tolist() == same.history["picked_ids"].tolist(), "the flags mean the same options"
    assert set(history["batch_rule"].dropna()) == {"kmeans"}
    assert history["n_scored"].iloc[1:].tolist() == [12] * (len(history) - 1)
    assert np.isnan(history["stop_kappa"].iloc[0]) and history["stop_kappa"].iloc[1:].between(-1, 1).all()


def test_the_default_initial_set_is_the_cold_start_one(manifest, tmp_path):
    """--initial defaults to auto, as in run(): with the default strategy and embeddings, typical examples."""
    out = tmp_path / "cli"
    assert main(["run", str(manifest), "--learner", "fast", "--rounds", "1", "--batch-size", "3", "--init-per-class", "2",
                 "--out", str(out), "--quiet"]) == 0
    df = autoal.load_manifest(manifest)
    kwargs = dict(learner="fast", n_rounds=1, batch_size=3, initial_per_class=2, verbose=False)
    typical = autoal.run(df, initial="kmeans", output_dir=tmp_path / "kmeans", **kwargs)
    random = autoal.run(df, initial="random", output_dir=tmp_path / "random", **kwargs)
    first = json.loads(pd.read_csv(out / "history.csv")["picked_ids"].iloc[0])
    assert first == json.loads(typical.history["picked_ids"].iloc[0])
    assert first != json.loads(random.history["picked_ids"].iloc[0])


class _Person(io.StringIO):
    """stdout and stdin of a person at the terminal who answers with the colour in the shown image's file name."""

    def readline(self):
        shown = self.getvalue().rsplit("example ", 1)[-1]
        return next(c for c in ("red", "green", "blue") if f"/{c}_" in shown) + "\n"


def test_a_manifest_without_labels_cold_starts_with_classes(manifest, tmp_path, monkeypatch):
    df = pd.read_csv(manifest)
    truth = dict(zip(df.index, df["label"]))
    df.assign(label=None).to_csv(manifest, index=False)
    person = _Person()
    monkeypatch.setattr("sys.stdin", person)
    monkeypatch.setattr("sys.stdout", person)
    out = tmp_path / "cold"
    assert main(["run", str(manifest), "--learner", "fast", "--classes", "red,green,blue", "--terminal", "me",
                 "--batch-size", "3", "--rounds", "1", "--test", str(_labelled_test(tmp_path)), "--out", str(out),
                 "--quiet"]) == 0
    history = pd.read_csv(out / "history.csv")
    assert history["n_labeled"].tolist() == [3, 6]
    first = json.loads(history["picked_ids"].iloc[0])
    assert sorted(truth[i] for i in first) == ["blue", "green", "red"], "one typical example of each colour cluster"


def _labelled_test(tmp_path):
    test = write_images(tmp_path / "test_images", 2, seed=3)
    test.to_csv(tmp_path / "test.csv", index=False)
    return tmp_path / "test.csv"


def test_bad_classes_flag_is_named(manifest, tmp_path, capsys):
    assert main(["run", str(manifest), "--learner", "fast", "--classes", "red", "--out", str(tmp_path / "o")]) == 2
    assert "--classes needs at least 2 distinct" in capsys.readouterr().err


def test_serve_help_offers_only_what_serve_uses(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for gone in ("--terminal", "--simulated", "--out", "--init-per-class", "through files"):
        assert gone not in text
    assert "--annotators" in text and "labelling on the page" in text
    with pytest.raises(SystemExit) as exc:
        main(["serve", "RUN", "--annotators", "a", "--out", "x"])
    assert exc.value.code == 2 and "unrecognized arguments: --out x" in capsys.readouterr().err


def test_adding_an_existing_annotator_points_at_annotators_link(tmp_path, capsys):
    df = write_images(tmp_path / "images", 6)
    df.loc[df.groupby("label").cumcount() >= 3, "label"] = None
    run_dir = tmp_path / "run"
    autoal.run(df, learner="fast", annotators=[autoal.ExternalAnnotator("alice")], batch_size=3, n_rounds=1,
               output_dir=run_dir, verbose=False)
    assert main(["annotators", "add", str(run_dir), "alice"]) == 2
    err = capsys.readouterr().err
    assert f"`autoal annotators link {run_dir} alice` gives them a new link" in err and "--new-link" not in err


def test_the_embeddings_learner_options_reach_the_run():
    from autoal.cli.commands import build_parser
    from autoal.cli.run_options import run_arguments

    args = build_parser().parse_args(["run", "m.csv", "--learner", "embeddings", "--backbones",
                                      "mobilenetv2_100, tf_efficientnet_lite2", "--image-size", "160"])
    options = run_arguments(args, "run")["learner_options"]
    assert options == {"image_size": 160, "backbones": ["mobilenetv2_100", "tf_efficientnet_lite2"]}
    plain = build_parser().parse_args(["run", "m.csv", "--learner", "embeddings"])
    assert run_arguments(plain, "run")["learner_options"] == {}, "unset: the learner's own defaults (image size auto)"
