"""benchmarks/compare_strategies.py end to end on a tiny generated set."""

import json
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from autoal.results.reporting import command_line
from conftest import load_file_module, write_images
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "compare_strategies.py"


def budget_to_reach(curve, target):
    """The first budget at which ``curve`` (accuracy indexed by budget) reaches ``target``, linearly interpolated."""
    budgets, accuracies = curve.index.to_numpy(dtype=float), curve.to_numpy()
    for i, accuracy in enumerate(accuracies):
        if accuracy >= target:
            return budgets[0] if i == 0 else np.interp(target, accuracies[i - 1:i + 1], budgets[i - 1:i + 1])
    return np.nan


def area_per_label(run):
    """A run's area under its accuracy curve divided by the budget it spans (mean accuracy over the budget)."""
    run = run.sort_values("n_labeled")
    return np.trapezoid(run["accuracy"], run["n_labeled"]) / np.ptp(run["n_labeled"])


def load_script():
    return load_file_module(SCRIPT)


@pytest.fixture
def manifest(tmp_path):
    df = write_images(tmp_path / "img", 16)
    df.to_csv(tmp_path / "m.csv", index=False)
    return tmp_path / "m.csv"


def overlapping_manifest(folder, n_per_class=20, seed=0):
    """Grey noise images whose classes differ only a little in one channel, so that strategies' curves differ."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, cls in enumerate(("a", "b", "c")):
        (folder / cls).mkdir(parents=True)
        for i in range(n_per_class):
            colour = np.full(3, 128.0) + 25 * np.eye(3)[k] + rng.normal(0, 15, 3)
            pixels = np.clip(colour + rng.normal(0, 30, (16, 16, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / cls / f"{i:03d}.png")
            rows.append({"label": cls, "image_path": str(folder / cls / f"{i:03d}.png")})
    pd.DataFrame(rows).to_csv(folder / "m.csv", index=False)
    return folder / "m.csv"


def test_fast_comparison_writes_results_summary_and_plot(tmp_path):
    out = tmp_path / "out"
    manifest = overlapping_manifest(tmp_path / "img")
    load_script().main(["--manifest", str(manifest), "--strategies", "activelab,random,margin", "--seeds", "2",
                        "--learner", "fast", "--rounds", "2", "--batch-size", "4", "--init-per-class", "2",
                        "--out", str(out)])
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 3 * 2 * 3 and set(results["strategy"]) == {"activelab", "random", "margin"}
    assert results.groupby(["strategy", "seed"])["n_labeled"].apply(list).map(lambda x: x == [6, 10, 14]).all()
    per_round = pd.read_csv(out / "summary.csv")
    assert {"budget", "accuracy", "accuracy_std", "n_seeds"} <= set(per_round.columns)
    strategies = pd.read_csv(out / "strategies.csv").set_index("strategy")
    curves = results.groupby(["strategy", "n_labeled"])["accuracy"].mean()  # mean curve over seeds
    target, random_budget = curves["random"].iloc[-1], curves["random"].index[-1]
    aulc = results.groupby(["strategy", "seed"]).apply(area_per_label, include_groups=False)
    differs = False
    for strategy in ("activelab", "margin"):
        row = strategies.loc[strategy]
        budget = budget_to_reach(curves[strategy], target)
        assert row["budget_to_random_final"] == pytest.approx(budget, nan_ok=True)
        assert row["fraction_of_random_budget"] == pytest.approx(budget / random_budget, nan_ok=True)
        gain = aulc[strategy] - aulc["random"]  # paired by seed
        assert row["aulc_minus_random"] == pytest.approx(gain.mean())
        assert row["wins_vs_random"] == (gain > 0).sum()
        differs = differs or (gain != 0).any()
    assert differs, "the data must let some strategy's curve differ from random's, else the checks above are vacuous"
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


def test_learner_auto_gets_the_options_of_the_learner_autoal_picks(tmp_path):
    """``--learner auto`` on images is the embeddings learner (autoal.run's rule), so it gets that learner's shared
    embedding cache, not AutoGluon's epochs, which the embeddings learner would refuse."""
    script = load_script()
    args = script.parse_args(["--dataset", "digits", "--out", str(tmp_path)])
    assert args.learner == "auto"
    assert script.learner_options(args) == {"cache_dir": str(tmp_path / "embedding_cache")}
    table = script.parse_args(["--dataset", "satellite", "--out", str(tmp_path)])
    assert script.learner_options(table) == {}
    fine_tune = script.parse_args(["--dataset", "digits", "--learner", "autogluon", "--max-epochs", "3",
                                   "--out", str(tmp_path)])
    assert script.learner_options(fine_tune) == {"max_epochs": 3}


def test_learner_options_as_json_go_over_the_flags(tmp_path, capsys):
    script = load_script()
    args = script.parse_args(["--dataset", "digits", "--learner", "autogluon", "--max-epochs", "3",
                              "--out", str(tmp_path),
                              "--learner-options", '{"peft": "norm_fit", "max_epochs": 5}'])
    assert script.learner_options(args) == {"max_epochs": 5, "peft": "norm_fit"}
    for bad, says in (("{peft: 1}", "not JSON"), ('["peft"]', "a JSON object")):
        with pytest.raises(SystemExit):
            script.parse_args(["--dataset", "digits", "--out", str(tmp_path), "--learner-options", bad])
        assert says in capsys.readouterr().err


def load_benchmark(name):
    return load_file_module(SCRIPT.parent / f"{name}.py")


@pytest.mark.parametrize("script, argv, leave_out", [
    ("compare_strategies", ["--dataset", "digits", "--stop-report", "--compare-to", "", "--learner-options",
                            '{"peft": "norm_fit"}', "--candidates-factor", "2.5", "--only-seeds", "3,0"], ("verbose",)),
    ("multiannotator", ["--manifest", "m.csv", "--no-images", "--max-epochs", "3"], ("summarize_only",)),
    ("relabel_only", ["--noise", "0", "--orders", "activelab,random"], ()),
    ("loop_overhead", ["--cold-start-size", "0", "--sizes", "100,200"], ("one",)),
])
def test_the_recorded_command_parses_back_to_the_same_arguments(script, argv, leave_out, tmp_path):
    """What a benchmark writes as its command repeats it: zeros, empty strings, flags, JSON and paths with spaces
    come back as they were given (and a default --dataset does not clash with --manifest)."""
    module = load_benchmark(script)
    args = module.parse_args(argv + ["--out", str(tmp_path / "a b")])
    words = shlex.split(command_line(f"benchmarks/{script}.py", args, leave_out=leave_out))
    assert words[:2] == ["python", f"benchmarks/{script}.py"] and "True" not in words
    assert vars(module.parse_args(words[2:])) == vars(args)


def test_an_imbalanced_pool_shrinks_its_classes_geometrically_and_keeps_every_class():
    script = load_script()
    frame = pd.DataFrame({"label": np.repeat(["a", "b", "c"], 100), "image_path": [f"{i}.png" for i in range(300)]})
    pool = script.imbalanced(frame, 10.0)
    counts = pool["label"].value_counts()
    assert counts.to_dict() == {"a": 100, "b": 32, "c": 10}
    assert pool.index.isin(frame.index).all() and pool.index.is_monotonic_increasing
    assert pool.equals(script.imbalanced(frame, 10.0)), "seeded"
    args = script.parse_args(["--dataset", "digits", "--imbalance", "4", "--out", "x"])
    assert args.imbalance == 4.0
    for bad in ("0.5", "-2", "nan"):
        with pytest.raises(SystemExit):
            script.parse_args(["--dataset", "digits", "--imbalance", bad, "--out", "x"])


def test_a_flag_of_another_learner_is_refused_before_any_data_is_read(tmp_path, capsys):
    script = load_script()
    for argv, says in ((["--max-epochs", "5"], "add --learner autogluon"),
                       (["--learner-options", '{"max_epochs": 5}'], "--learner-options: bad learner_options")):
        with pytest.raises(SystemExit) as stop:
            script.main(["--dataset", "digits", "--out", str(tmp_path)] + argv)
        assert says in str(stop.value)
    assert "pool" not in capsys.readouterr().out


def test_the_several_annotators_benchmark_reads_its_batch_modifiers():
    script = load_benchmark("multiannotator")
    assert script.parse_config("auto/coverage-first")["batch"] == "coverage-first"
    assert script.parse_config("activelab/kmeans")["batch"] == "kmeans"
    assert script.parse_config("activelab")["batch"] == "topk"
    with pytest.raises(SystemExit, match="unknown modifier 'coverage'"):
        script.parse_config("auto/coverage")
