"""A round's time: each second counted once, round 0 counting the cold start's embedding pass, and the labelling
server's line saying what the history says."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from conftest import ColourFeatureLearner, TruthLearner
from serving import make_run

import autoal
from autoal.results.reporting import STAGE_SECONDS

FIT_SLEEP = 0.4


class EmbeddingLikeLearner(TruthLearner):
    """Sleeps in fit and reports that time as its own ``embed_seconds`` fact (part of the fit, as the embeddings
    learner's is)."""

    def fit(self, df):
        time.sleep(FIT_SLEEP)
        self.last_fit_info_ = {"n_train": len(df), "embed_seconds": FIT_SLEEP}
        return super().fit(df)


class SlowFeatures(ColourFeatureLearner):
    """Its features take a while, as a first embedding pass over the pool does."""

    def embeddings(self, df):
        time.sleep(0.5)
        return super().embeddings(df)


def test_round_seconds_is_the_sum_of_the_stages_and_counts_no_learner_fact_twice(images, tmp_path):
    started = time.perf_counter()
    result = autoal.run(images, learner=EmbeddingLikeLearner(), strategy="margin", batch_size=3, n_rounds=2,
                        initial_per_class=2, output_dir=tmp_path / "run", verbose=False)
    elapsed = time.perf_counter() - started
    history = result.history
    for _, row in history.iterrows():
        stages = sum(row[k] for k in STAGE_SECONDS if k in history and row[k] == row[k])
        assert row["round_seconds"] == pytest.approx(stages)
        assert row["fit_seconds"] >= FIT_SLEEP
        assert row["round_seconds"] < row["fit_seconds"] + row["embed_seconds"], \
            "the learner's embed_seconds is part of its fit, not a second stage"
    assert history["round_seconds"].sum() < elapsed, "the rounds cannot take longer than the run"


def test_round_zero_counts_the_cold_start_pass_over_the_pool(images, tmp_path):
    result = autoal.run(images, learner=SlowFeatures(), strategy="auto", initial="kmeans", batch="topk", batch_size=3,
                        n_rounds=1, initial_per_class=2, output_dir=tmp_path / "run", verbose=False)
    first = result.history.iloc[0]
    assert first["select_seconds"] >= 0.5, "the typical initial set's features are round 0's selection"
    assert first["round_seconds"] >= first["select_seconds"] + first["fit_seconds"]


def test_the_server_says_the_history_s_fit_and_round_seconds(tmp_path):
    from autoal.server.driver import RoundDriver
    from autoal.server.labelling import RunFacts

    run_dir, truth, session = make_run(tmp_path, n_rounds=1)
    lines = []
    driver = RoundDriver(session, RunFacts(run_dir), tick=0.05, log=lines.append).start()
    try:
        driver.wait_for(lambda s: s["rounds_trained"] >= 1, 60)
    finally:
        driver.stop()
    logged = next(line for line in lines if "round 0 trained" in line)
    fit, round_ = (float(x) for x in re.search(r"fit ([\d.]+) s, round ([\d.]+) s", logged).groups())
    row = session.rows[0]
    assert (fit, round_) == (round(row["fit_seconds"], 1), round(row["round_seconds"], 1))
    assert np.isclose(row["round_seconds"], sum(row.get(k) or 0 for k in STAGE_SECONDS))
