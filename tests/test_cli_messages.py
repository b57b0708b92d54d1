"""The command line speaks in flags: errors and warnings name ``--test`` and ``--classes``, not ``test_df`` and
``classes=[...]``; a cold start without ``--test`` says at once that it measures no accuracy and how to; ``--help``
shows the defaults."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import write_images

from autoal.cli.commands import main
from autoal.cli.messages import in_cli_terms


def manifest_of(df, path):
    df.to_csv(path, index=False)
    return str(path)


def test_a_cold_start_without_classes_is_told_the_flag(tmp_path, capsys):
    df = write_images(tmp_path / "img", 4).assign(label=np.nan)
    code = main(["run", manifest_of(df, tmp_path / "m.csv"), "--annotators", "alice", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "--classes a,b,..." in err
    assert "classes=[" not in err and "initial='kmeans'" not in err and "df has" not in err


def test_too_few_labels_for_a_holdout_is_told_the_test_flag(tmp_path, capsys):
    df = write_images(tmp_path / "img", 4)
    df = df[(df["label"] != "red") | (df.index == df.index[0])]  # one labelled red
    code = main(["run", manifest_of(df, tmp_path / "m.csv"), "--learner", "fast", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "pass --test TEST.csv" in err and "test_df" not in err


def test_a_cold_start_without_test_warns_at_once_that_accuracy_is_not_measured(tmp_path, capsys):
    df = write_images(tmp_path / "img", 6).assign(label=np.nan)
    code = main(["run", manifest_of(df, tmp_path / "m.csv"), "--classes", "red,green,blue", "--annotators", "alice",
                 "--learner", "fast", "--batch-size", "6", "--out", str(tmp_path / "run")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "autoal: warning: no holdout" in captured.err and "pass --test TEST.csv" in captured.err
    assert "UserWarning" not in captured.err and "test_df" not in captured.err
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["holdout"].startswith("none: no labelled rows to set aside")


def test_a_cold_start_in_python_warns_too(tmp_path):
    import autoal

    df = write_images(tmp_path / "img", 4).assign(label=np.nan)
    with pytest.warns(UserWarning, match="no holdout.*pass test_df"):
        session = autoal.rounds.loop.start_session(df, classes=["red", "green", "blue"], learner="fast",
                                                   annotators=autoal.ExternalAnnotator("alice"),
                                                   output_dir=tmp_path / "run", verbose=False)
    session.state.close()


def test_run_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for expected in ("labels asked per round (default 150)", "query rounds after round 0 (default 10)",
                     "(simulation mode) (default 8)"):
        assert expected in text


@pytest.mark.parametrize("python, cli", [
    ("pass drop_bad_images=True or fix them", "pass --drop-bad-images or fix them"),
    ("name them with feature_cols=[...] (CLI: --feature-cols a,b)", "name them with --feature-cols a,b"),
    ("use learner='tabular' for a table", "use --learner tabular for a table"),
    ("add labelled examples of them to df", "add labelled examples of them to the manifest"),
    ("a path like /data/df/x.png stays", "a path like /data/df/x.png stays"),
])
def test_python_spellings_become_flags(python, cli):
    assert in_cli_terms(python) == cli
