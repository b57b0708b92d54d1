"""RunConfig: one frozen, validated set of a run's options, "auto" resolved once, stored and read back."""

import dataclasses
import inspect
import json
import sqlite3

import pytest

import autoal
from autoal.cli.commands import build_parser
from autoal.cli.run_options import run_arguments
from autoal.errors import InputError
from autoal.query.relabel_policy import RelabelPolicy
from autoal.rounds.config import CONFIG_VERSION, RunConfig
from autoal.rounds.loop import resume_session
from autoal.rounds.stopping import StablePredictions


def test_frozen_and_keyword_only():
    config = RunConfig(batch_size=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.batch_size = 6
    with pytest.raises(TypeError):
        RunConfig("label")


@pytest.mark.parametrize("options, message", [
    ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0$"),
    ({"n_rounds": True}, r"n_rounds must be an integer >= 1, got True \(a bool\)$"),
    ({"target_accuracy": 1.5}, r"target_accuracy must be a number in \(0, 1\] or None, got 1.5$"),
    ({"holdout_fraction": 1}, r"holdout_fraction must be a number in \[0, 1\), got 1; 0 keeps no holdout$"),
    ({"batch": "clusters"}, "batch must be one of .*, got 'clusters'"),
    ({"initial": "first"}, "initial must be one of 'random', 'kmeans', 'coverage', 'auto', got 'first'$"),
    ({"oos": "fold"}, "oos must be one of 'auto', 'cross_val', 'pick', got 'fold'$"),
    ({"check_images": "some"}, "check_images must be one of .*, got 'some'"),
    ({"folds": 1}, "folds must be an integer >= 2, got 1"),
    ({"pool_subsample": 0}, "pool_subsample must be an integer >= 1 or None, got 0$"),
    ({"learner": "svm"}, "learner must be one of .*, got 'svm'; or pass a Learner instance"),
    ({"strategy": "bald"}, "strategy must be one of .*, got 'bald'; or pass a callable"),
    ({"relabel": "yes"}, "relabel must be True, False, a dict"),
    ({"stop": "soon"}, "unknown stop rule 'soon'"),
    ({"scoring": 3}, "unknown scoring 3"),
])
def test_every_option_is_checked_when_the_config_is_built(options, message):
    with pytest.raises(InputError, match=message):
        RunConfig(**options)


def test_relabel_and_stop_are_normalised_to_their_rules():
    config = RunConfig(relabel={"max_share": 0.5}, stop="stable")
    assert config.relabel == RelabelPolicy(max_share=0.5) and config.stop == StablePredictions()
    assert RunConfig(relabel=False).relabel is None


def test_run_declares_the_same_defaults_as_the_config():
    parameters = inspect.signature(autoal.run).parameters
    fields = {f.name: f for f in dataclasses.fields(RunConfig)}
    assert set(fields) <= set(parameters), "every config field is an option of autoal.run"
    for name, field in fields.items():
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        given = parameters[name].default
        assert given == default or (given is None and default == {}), name


@pytest.mark.parametrize("facts, expected", [
    ({"n_annotators": 1, "embeddings": True, "simulation": True, "n_given": 0},
     {"strategy": "margin", "batch": "kmeans", "initial": "kmeans", "oos": "pick"}),
    ({"n_annotators": 3, "embeddings": True, "simulation": True, "n_given": 0},
     {"strategy": "activelab", "batch": "kmeans", "initial": "kmeans", "oos": "cross_val"}),
    ({"n_annotators": 3, "embeddings": False, "simulation": True, "n_given": 0},
     {"strategy": "activelab", "batch": "topk", "initial": "random", "oos": "cross_val"}),
    ({"n_annotators": 1, "embeddings": True, "simulation": False, "n_given": 10},
     {"strategy": "margin", "batch": "kmeans", "initial": "random", "oos": "pick"}),
    ({"n_annotators": 1, "embeddings": False, "simulation": False, "n_given": 0},
     {"strategy": "margin", "batch": "topk", "initial": "kmeans", "oos": "pick"}),
])
def test_every_auto_is_resolved_in_one_place(facts, expected):
    resolved = RunConfig().resolved(**facts)
    assert {k: getattr(resolved, k) for k in expected} == expected
    assert resolved.learner == "embeddings" and resolved.is_resolved
    assert RunConfig(image_col=None).resolved(**facts).learner == "tabular"


@pytest.mark.parametrize("simulation, n_given", [(True, 0), (False, 0)])
def test_a_learner_that_learns_from_the_pool_starts_with_the_coverage_pick(simulation, n_given):
    facts = dict(n_annotators=1, embeddings=True, simulation=simulation, n_given=n_given)
    assert RunConfig().resolved(**facts, coverage=True).initial == "coverage"
    assert RunConfig().resolved(**facts, coverage=True).batch == "coverage-first"
    several = RunConfig().resolved(**dict(facts, n_annotators=3), coverage=True)
    assert (several.batch, several.strategy) == ("coverage-first", "activelab"), "coverage, then ActiveLab's batches"
    assert RunConfig().resolved(**facts, coverage=False).batch == "kmeans"
    assert RunConfig().resolved(**facts, coverage=False).initial == "kmeans"
    assert RunConfig(initial="kmeans").resolved(**facts, coverage=True).initial == "kmeans"
    assert RunConfig().resolved(**dict(facts, n_given=5), coverage=True).initial == (
        "coverage" if simulation else "random")


def test_a_named_strategy_keeps_plain_batches_and_no_relabel_means_pick():
    resolved = RunConfig(strategy="entropy", relabel=False).resolved(n_annotators=3, embeddings=True,
                                                                      simulation=True, n_given=0)
    assert (resolved.strategy, resolved.batch, resolved.initial, resolved.oos) == ("entropy", "topk", "random", "pick")


def test_settings_round_trip_and_carry_the_version():
    config = RunConfig(batch_size=7, relabel={"max_share": 0.25}, stop={"kappa": 0.95}, classes=["a", "b"])
    settings = json.loads(json.dumps(config.to_settings()))
    assert settings["config_version"] == CONFIG_VERSION
    assert RunConfig.from_settings(settings) == config


def test_a_newer_config_version_is_refused_naming_the_fix():
    settings = dict(RunConfig().to_settings(), config_version=CONFIG_VERSION + 1)
    with pytest.raises(InputError, match="newer than this autoal .* upgrade autoal"):
        RunConfig.from_settings(settings)


def test_custom_objects_must_be_passed_again():
    settings = RunConfig(strategy=lambda labels, probs, pool: pool[:, 0]).to_settings()
    assert settings["strategy"] is None
    with pytest.raises(InputError, match="custom strategy function, which cannot be rebuilt; pass strategy="):
        RunConfig.from_settings(settings)
    assert RunConfig.from_settings(settings, strategy="margin").strategy == "margin"


def test_a_run_stores_its_resolved_config_and_resume_reads_it_back(images, tmp_path):
    autoal.run(images, learner="fast", batch_size=6, n_rounds=1, initial_per_class=2, output_dir=tmp_path / "run",
               verbose=False)
    with sqlite3.connect(tmp_path / "run" / "run.sqlite") as db:
        stored = json.loads(db.execute("SELECT value FROM meta WHERE key = 'settings'").fetchone()[0])
    assert stored["config_version"] == CONFIG_VERSION
    assert (stored["strategy"], stored["batch"], stored["initial"], stored["oos"]) == ("margin", "kmeans", "kmeans",
                                                                                         "pick")
    assert stored["auto_options"] == ["strategy", "batch", "initial", "oos"]
    session = resume_session(tmp_path / "run", n_rounds=3)
    expected = {k: v for k, v in stored.items() if k in {f.name for f in dataclasses.fields(RunConfig)}}
    assert dataclasses.asdict(session.config) == dataclasses.asdict(RunConfig.from_settings(dict(
        stored, auto_options=[], n_rounds=3)))
    assert session.config.batch_size == expected["batch_size"] == 6
    session.state.close()


def test_auto_options_are_resolved_again_when_the_team_grows(images, tmp_path):
    from autoal.annotation.annotators import simulated_annotators

    autoal.run(images, learner="fast", batch_size=6, n_rounds=1, initial_per_class=2, output_dir=tmp_path / "run",
               verbose=False)
    session = resume_session(tmp_path / "run", annotators=simulated_annotators(3))
    assert (session.config.strategy, session.config.oos) == ("activelab", "cross_val")
    session.state.close()
    autoal.run(images, learner="fast", strategy="margin", oos="pick", batch_size=6, n_rounds=1, initial_per_class=2,
               output_dir=tmp_path / "fixed", verbose=False)
    session = resume_session(tmp_path / "fixed", annotators=simulated_annotators(3))
    assert (session.config.strategy, session.config.oos) == ("margin", "pick"), "options given stay as given"
    session.state.close()


def test_a_run_stored_before_configs_is_resolved_when_opened(images, tmp_path):
    autoal.run(images, learner="fast", batch_size=6, n_rounds=1, initial_per_class=2, output_dir=tmp_path / "run",
               verbose=False)
    with sqlite3.connect(tmp_path / "run" / "run.sqlite") as db:  # as an older autoal wrote it
        settings = json.loads(db.execute("SELECT value FROM meta WHERE key = 'settings'").fetchone()[0])
        old = dict(settings, strategy="auto", batch="auto", initial="auto", oos="auto", strategy_used="margin")
        del old["config_version"], old["auto_options"]
        db.execute("UPDATE meta SET value = ? WHERE key = 'settings'", (json.dumps(old),))
    session = resume_session(tmp_path / "run")
    assert (session.config.strategy, session.config.batch, session.config.oos) == ("margin", "kmeans", "pick")
    session.state.close()


def test_the_cli_run_options_come_from_the_config_fields():
    parser = build_parser()
    run_help = parser._subparsers._group_actions[0].choices["run"].format_help()
    flags = [f.metadata["flag"] for f in dataclasses.fields(RunConfig) if f.metadata.get("flag")]
    assert len(flags) >= 15 and all(flag in run_help for flag in flags)
    args = parser.parse_args(["run", "m.csv", "--batch-size", "7", "--rounds", "2", "--quiet", "--no-relabel",
                              "--stop-stable", "--classes", "a,b", "--feature-cols", "x:numeric", "--seed", "3"])
    arguments = run_arguments(args, "m")
    config = RunConfig(**{k: v for k, v in arguments.items() if k in {f.name for f in dataclasses.fields(RunConfig)}})
    assert (config.batch_size, config.n_rounds, config.verbose, config.relabel, config.random_state) == (7, 2, False,
                                                                                                         None, 3)
    assert config.stop == StablePredictions() and config.classes == ["a", "b"]
    assert config.feature_cols == {"x": "numeric"}
    defaults = RunConfig(**{k: v for k, v in run_arguments(parser.parse_args(["run", "m.csv"]), "m").items()
                            if k in {f.name for f in dataclasses.fields(RunConfig)}})
    assert defaults == RunConfig(), "the command's defaults are the config's"


def test_a_run_stored_before_configs_without_some_settings_gets_the_old_fallbacks(images, tmp_path):
    autoal.run(images, learner="fast", batch_size=6, n_rounds=1, initial_per_class=2, output_dir=tmp_path / "run",
               verbose=False)
    with sqlite3.connect(tmp_path / "run" / "run.sqlite") as db:  # as autoal convert writes older runs
        settings = json.loads(db.execute("SELECT value FROM meta WHERE key = 'settings'").fetchone()[0])
        old = {k: v for k, v in settings.items() if k not in ("config_version", "auto_options", "oos", "batch",
                                                               "initial")}
        db.execute("UPDATE meta SET value = ? WHERE key = 'settings'", (json.dumps(dict(old, strategy="auto")),))
    session = resume_session(tmp_path / "run", annotators=autoal.simulated_annotators(2))
    assert (session.config.oos, session.config.batch, session.config.initial) == ("pick", "topk", "random")
    assert session.config.strategy == "activelab"
    session.state.close()


def test_a_scoring_address_that_cannot_work_fails_before_the_run_folder_is_made(images, tmp_path):
    with pytest.raises(InputError, match="bad address"):
        autoal.run(images, learner="fast", scoring="bad address!", output_dir=tmp_path / "run", verbose=False)
    assert not (tmp_path / "run").exists()


def test_run_passes_every_option_to_its_config_by_name():
    """``run()`` builds its RunConfig from named arguments: every config field is a parameter of run() and is passed
    on as ``name=name`` (a field added to RunConfig but not to run() fails here, not silently at its default)."""
    import inspect

    from autoal.rounds.loop import run

    parameters = inspect.signature(run).parameters
    source = inspect.getsource(run)
    fields = [f.name for f in dataclasses.fields(RunConfig)]
    assert [f for f in fields if f not in parameters] == []
    assert [f for f in fields if f"{f}={f}" not in source] == []
