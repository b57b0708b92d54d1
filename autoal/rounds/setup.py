"""Setting up a run's session: a new run from its data and options, or a stopped one from its folder, in one order.

Both go through the same steps: the options (:class:`~autoal.rounds.config.RunConfig`), the learner made from them,
the annotators, the data (prepared, or as the store holds it), the learner configured for the run (choosing its own
options from the pool) and then :meth:`RunConfig.resolved <autoal.rounds.config.RunConfig.resolved>`, the one
place where every ``"auto"`` option is decided, with the facts of that learner and team.
"""

from __future__ import annotations

import dataclasses
import tempfile
import warnings
from pathlib import Path

import numpy as np

from autoal.annotation.annotators import OracleAnnotator, as_annotators
from autoal.annotation.specs import annotator_from_spec
from autoal.data.feature_columns import choose_features
from autoal.data.prepare import prepare_data
from autoal.errors import InputError
from autoal.learners import make_learner
from autoal.learners.embedding_source import embedding_cache, embeddings_available, learns_from_pool
from autoal.rounds.config import RunConfig
from autoal.rounds.session import Session
from autoal.store.run_state import GIVEN, RunState, check_new_run_folder, open_run

__all__ = ["new_session", "resume_session"]


def new_session(df, config: RunConfig, *, test_df, annotators, output_dir) -> Session:
    """Prepare the data, resolve the config's "auto" options, create the run's store; the session of round 0."""
    config.check_holdout(has_test_df=test_df is not None)
    model = make_learner(config.learner_to_make, **config.learner_options)  # its options checked before the data
    annotator_list = as_annotators(annotators)
    out = _checked_output_dir(output_dir)
    data = prepare_data(
        df, test_df=test_df, label=config.label, image_col=config.image_col, id_col=config.id_col,
        initial_per_class=config.initial_per_class, holdout_fraction=config.holdout_fraction, classes=config.classes,
        drop_bad_images=config.drop_bad_images, rng=np.random.default_rng(config.random_state),
        allow_unlabelled=config.initial != "random", check_images=config.check_images, simulate=config.simulate,
    )
    if not len(data.test) and test_df is None and config.holdout_fraction > 0:
        warnings.warn("autoal: no holdout: the data has no labels to set aside, so accuracy cannot be measured and "
                      "stays NaN for the whole run; to measure it, pass test_df (labelled examples of the same "
                      "classes); stop='stable' stops the run without a holdout", UserWarning, stacklevel=3)
    if not data.simulation and not annotator_list:
        n_missing = int(data.frame[config.label].isna().sum())
        raise InputError(
            f"df has {n_missing} rows without a label and no annotator was given: pass annotators=... "
            "(an Annotator or a function examples -> labels; CLI: --terminal NAME or --annotators alice,bob) "
            "to label them, or pass a fully labelled df to simulate labelling"
        )
    annotator_list = annotator_list or [OracleAnnotator()]
    if GIVEN in [a.name for a in annotator_list]:
        raise InputError(f"annotator name {GIVEN!r} is reserved for the labels df arrives with; choose another name")
    features = choose_features(data, model, label=config.label, image_col=config.image_col,
                               feature_cols=config.feature_cols, verbose=config.verbose)
    out = out or Path(tempfile.mkdtemp(prefix="autoal-run-"))
    auto = config.auto_options()
    config = _configured(config, model, data, out, features, len(annotator_list))
    settings = dict(config.to_settings(auto_options=auto), features=features, output_dir=str(out),
                    annotators=[a.spec() for a in annotator_list], annotator_names=[a.name for a in annotator_list],
                    embedding_cache=embedding_cache(model, config.image_col))
    state = RunState.create(out, data, settings)
    try:
        return Session(state, config, model, annotator_list)
    except BaseException:  # e.g. an annotator's prepare raised: the store closed, the run's writer lock given back
        state.close()
        raise


def resume_session(run_dir, *, annotators=None, learner=None, strategy=None, n_rounds=None, verbose=None) -> Session:
    """Open a stopped run as :func:`resume` does and return its :class:`~autoal.rounds.session.Session` without
    running any step."""
    state = open_run(run_dir, writer=True)
    try:
        return _resumed_session(state, annotators, learner, strategy, n_rounds, verbose)
    except BaseException:
        state.close()
        raise


def _resumed_session(state, annotators, learner, strategy, n_rounds, verbose) -> Session:
    """The session of a run opened from its store: its stored options (with today's ``"auto"`` facts)."""
    config = RunConfig.from_settings(state.settings, learner=learner, strategy=strategy)
    if n_rounds is not None:
        config = dataclasses.replace(config, n_rounds=n_rounds)
        state.update_settings(n_rounds=n_rounds)
    if verbose is not None:
        config = dataclasses.replace(config, verbose=verbose)
    model = make_learner(config.learner_to_make, **config.learner_options)
    annotator_list = _rebuild_annotators(state.settings, annotators)
    # "auto" options are resolved again with today's facts (e.g. annotators who joined); a learner given again
    # chooses its options from the same pool (stored ones: no change)
    config = _configured(config, model, state.data, state.folder, state.settings.get("features"), len(annotator_list))
    return Session(state, config, model, annotator_list)


def _configured(config: RunConfig, model, data, folder, features, n_annotators) -> RunConfig:
    """Configure the run's learner ``model`` (made from ``config.learner_to_make``) for the run and return the config
    with the options the learner chose from the pool added to ``learner_options`` (so that the run stores them) and
    every ``"auto"`` resolved with the learner's and the team's facts: the same steps for a new and a resumed run."""
    model.configure(classes=data.classes, label=config.label, image_col=config.image_col, output_dir=folder,
                    random_state=config.random_state, feature_columns=features)
    chosen = model.resolve_options(data.frame)
    if chosen and isinstance(config.learner, str):
        config = dataclasses.replace(config, learner_options={**config.learner_options, **chosen})
    return config.resolved(n_annotators=n_annotators, embeddings=embeddings_available(model),
                           simulation=data.simulation, n_given=len(data.initial_ids), coverage=learns_from_pool(model))


def _rebuild_annotators(settings, annotators) -> list:
    if annotators is not None:
        return as_annotators(annotators)
    missing = [n for n, s in zip(settings["annotator_names"], settings["annotators"]) if s is None]
    if missing:
        raise InputError(f"annotators {missing} were custom objects or functions and cannot be rebuilt; pass "
                         "annotators=[...] to resume")
    return [annotator_from_spec(s) for s in settings["annotators"]]


def _checked_output_dir(output_dir) -> Path | None:
    """The run folder asked for, checked to be able to take a new run; None for a new temporary one."""
    if output_dir is None:
        return None
    out = Path(output_dir).expanduser()
    check_new_run_folder(out)
    return out
