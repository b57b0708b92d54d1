"""The strategy comparison and the multi-annotator benchmark on a table without images (tiny, real TabularPredictor)."""

import json
import shlex
import sys
from pathlib import Path

import pandas as pd
from conftest import load_file_module
from tables import write_table

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name):
    sys.path.insert(0, str(BENCHMARKS))
    return load_file_module(BENCHMARKS / f"{name}.py")


def test_strategy_comparison_on_a_table(tmp_path):
    write_table(15).drop(columns=["note"]).to_csv(tmp_path / "table.csv", index=False)
    out = tmp_path / "out"
    load("compare_strategies").main(["--manifest", str(tmp_path / "table.csv"), "--no-images", "--strategies",
                                     "random,margin,auto", "--seeds", "2", "--rounds", "2", "--batch-size", "4",
                                     "--init-per-class", "2", "--out", str(out)])
    results = pd.read_csv(out / "results.csv")
    assert set(results["strategy"]) == {"random", "margin", "auto"} and set(results["seed"]) == {0, 1}
    assert results.groupby(["strategy", "seed"])["n_labeled"].apply(list).map(lambda x: x == [6, 10, 14]).all()
    assert results["accuracy"].iloc[-1] > 0.5
    strategies = pd.read_csv(out / "strategies.csv")
    assert set(strategies["strategy"]) == {"random", "margin", "auto"}
    summary = json.loads((out / "summary.json").read_text())
    words = shlex.split(summary["command"])
    assert "--no-images" in words and "True" not in words and words[words.index("--learner") + 1] == "auto"


def test_multiannotator_benchmark_on_a_table(tmp_path):
    write_table(15).drop(columns=["note"]).to_csv(tmp_path / "table.csv", index=False)
    out = tmp_path / "out"
    load("multiannotator").main(["--manifest", str(tmp_path / "table.csv"), "--no-images", "--configs",
                                 "random,activelab/folds-2", "--seeds", "1", "--rounds", "2", "--batch-size", "6",
                                 "--init-per-class", "2", "--annotators", "3", "--out", str(out)])
    results = pd.read_csv(out / "results.csv")
    assert set(results["config"]) == {"random", "activelab/folds-2"}
    assert results.groupby("config")["n_annotations"].apply(list).to_dict() == {"activelab/folds-2": [6, 12, 18],
                                                                                 "random": [6, 12, 18]}
    annotators = pd.read_csv(out / "annotators.csv")
    assert set(annotators["annotator"]) == {"annotator_1", "annotator_2", "annotator_3"}
    assert (out / "configs.csv").exists() and (out / "accuracy_vs_annotations.png").stat().st_size > 5000
