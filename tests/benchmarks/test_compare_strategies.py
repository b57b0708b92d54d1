"""benchmarks/compare_strategies.py end to end on a tiny generated set."""

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import write_images

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "compare_strategies.py"


def load_script():
    spec = importlib.util.spec_from_file_location("compare_strategies", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def manifest(tmp_path):
    df = write_images(tmp_path / "img", 16)
    df.to_csv(tmp_path / "m.csv", index=False)
    return tmp_path / "m.csv"


def test_fast_comparison_writes_results_summary_and_plot(manifest, tmp_path):
    out = tmp_path / "out"
    load_script().main(["--manifest", str(manifest), "--strategies", "activelab,random,margin", "--seeds", "2",
                        "--learner", "fast", "--rounds", "2", "--batch-size", "4", "--init-per-class", "2",
                        "--out", str(out)])
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 3 * 2 * 3 and set(results["strategy"]) == {"activelab", "random", "margin"}
    assert results.groupby(["strategy", "seed"])["n_labeled"].apply(list).map(lambda x: x == [6, 10, 14]).all()
    per_round = pd.read_csv(out / "summary.csv")
    assert {"budget", "accuracy", "accuracy_std", "n_seeds"} <= set(per_round.columns)
    strategies = pd.read_csv(out / "strategies.csv").set_index("strategy")
    random_row = strategies.loc["random"]
    assert 0 < random_row["fraction_of_random_budget"] <= 1.0  # random reaches its own final accuracy by its last round
    assert random_row["budget_to_random_final"] <= random_row["final_budget"]
    assert "wins_vs_random" in strategies.columns
    assert (out / "learning_curves.png").stat().st_size > 5000
    assert json.loads((out / "summary.json").read_text())["command"].startswith("python benchmarks/compare_strategies.py")


def test_a_rerun_skips_finished_runs(manifest, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--manifest", str(manifest), "--strategies", "random", "--seeds", "1", "--learner", "fast", "--rounds", "1",
            "--batch-size", "4", "--init-per-class", "2", "--out", str(out)]
    script = load_script()
    script.main(argv)
    script.main(argv)
    assert len(pd.read_csv(out / "results.csv")) == 2
    assert "already in" in capsys.readouterr().out


@pytest.mark.autogluon
def test_one_autogluon_round(manifest, tmp_path):
    out = tmp_path / "out"
    load_script().main(["--manifest", str(manifest), "--strategies", "activelab,random", "--seeds", "1",
                        "--learner", "autogluon", "--rounds", "1", "--batch-size", "6", "--init-per-class", "3",
                        "--max-epochs", "2", "--image-size", "32", "--out", str(out)])
    results = pd.read_csv(out / "results.csv")
    assert results.groupby("strategy")["n_labeled"].apply(list).to_dict() == {"activelab": [9, 15], "random": [9, 15]}
    assert (results["fit_seconds"] > 0).all()
