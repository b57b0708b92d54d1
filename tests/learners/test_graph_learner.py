"""The embeddings learner's pool graph: the mixture rule, the graph kept with the run, holdouts kept out of it."""

import numpy as np
import pytest
from conftest import write_images
from test_embedding_cache import mobilenet_checkpoint

import autoal
from autoal.errors import InputError
from autoal.graph.pool_graph import PoolGraph
from autoal.learners import EmbeddingLearner
from autoal.learners.graph_head import (FOLD_LIMIT, PRIOR_TEMPERATURE, PRIOR_WEIGHT, VALIDATION_ROWS, calibrated,
                                        choose_mixture, choose_power, graph_probabilities,
                                        validation_folds)
from autoal.learners.population_graph import PopulationGraph
from autoal.rounds.loop import resume_session

CLASSES = ["red", "green", "blue"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return mobilenet_checkpoint(tmp_path_factory)


# -- choosing the mixture ---------------------------------------------------------------------------


def held_out(n=60, seed=0):
    """Held-out truth, a logistic head right on every row, and graph scores right on none (or the reverse)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n)
    right = np.eye(3)[truth] * 0.8 + 0.2 / 3
    wrong_scores = np.eye(3)[(truth + 1) % 3] * 5.0
    return truth, right, wrong_scores


def test_the_mixture_leans_away_from_a_graph_that_mislabels_held_out_rows():
    truth, right, wrong_scores = held_out()
    weight, _ = choose_mixture(right, wrong_scores, np.ones(len(truth)), truth)
    assert weight < 0.1


def test_the_mixture_leans_on_a_graph_that_labels_held_out_rows_where_the_logistic_head_does_not():
    truth, right, wrong_scores = held_out()
    graph_right = np.eye(3)[truth] * 5.0
    logistic_wrong = np.eye(3)[(truth + 1) % 3] * 0.8 + 0.2 / 3
    weight, _ = choose_mixture(logistic_wrong, graph_right, np.ones(len(truth)), truth)
    assert weight > 0.9


def test_without_held_out_rows_the_mixture_is_the_prior():
    assert choose_mixture(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), np.zeros(0, dtype=int)) == \
        (PRIOR_WEIGHT, PRIOR_TEMPERATURE)


def test_graph_probabilities_with_one_scale_per_row_read_each_row_with_its_own():
    rng = np.random.default_rng(0)
    scores, scales = rng.normal(size=(6, 3)), rng.random(6) + 0.1
    scores[2, 1] = -np.inf  # a class without labels in that row's solution
    rowwise = np.vstack([graph_probabilities(row[None], scale, 3.0) for row, scale in zip(scores, scales)])
    assert np.array_equal(graph_probabilities(scores, scales, 3.0), rowwise)
    assert rowwise[2, 1] == 0 and np.allclose(rowwise.sum(axis=1), 1)


def confident(truth, right_share, top, seed=0):
    """Probabilities whose top class (probability ``top``) is the truth on ``right_share`` of the rows."""
    rng = np.random.default_rng(seed)
    guess = np.where(rng.random(len(truth)) < right_share, truth, (truth + 1) % 3)
    return np.eye(3)[guess] * (top - (1 - top) / 2) + (1 - top) / 2


def test_the_calibration_power_softens_overconfident_and_sharpens_underconfident_probabilities():
    truth = np.random.default_rng(1).integers(0, 3, 100)
    overconfident = confident(truth, 0.6, 0.98)
    underconfident = confident(truth, 0.95, 0.4)
    soft, sharp = choose_power(overconfident, truth), choose_power(underconfident, truth)
    assert soft < 0.6 and sharp > 1.5
    for probs, power in ((overconfident, soft), (underconfident, sharp)):
        fixed = calibrated(probs, power)
        assert np.allclose(fixed.sum(axis=1), 1)
        assert (fixed.argmax(axis=1) == probs.argmax(axis=1)).all(), "each row keeps its top class"
        mean_top = fixed.max(axis=1).mean()
        assert abs(mean_top - (fixed.argmax(axis=1) == truth).mean()) < abs(probs.max(axis=1).mean()
                                                                            - (probs.argmax(axis=1) == truth).mean())
    assert choose_power(np.zeros((0, 3)), np.zeros(0, dtype=int)) == 1.0, "no held-out row: no change"
    few = choose_power(overconfident[:3], truth[:3])
    assert soft < few <= 1.0, "a power chosen on a few rows stays near 1"


def test_held_out_rows_never_take_a_class_s_last_label_and_fold_by_the_label_count():
    labels = np.repeat(np.arange(5), [1, 2, 3, 40, 60])
    folds = validation_folds(labels, random_state=0)
    held = np.concatenate(folds)
    assert len(set(held)) == len(held) <= VALIDATION_ROWS
    for c in range(5):
        assert (labels == c).sum() - (labels[held] == c).sum() >= 1, f"class {c} lost every training label"
    assert len(folds) == 5, "up to FOLD_LIMIT labels the held-out rows rotate over five folds"
    many = np.repeat(np.arange(5), FOLD_LIMIT // 5 + 10)
    assert len(validation_folds(many, random_state=0)) == 1, "beyond, one split"
    assert validation_folds(np.arange(6), random_state=0) == [], "one label per class: nothing to hold out"


# -- the learner in a run --------------------------------------------------------------------------


@pytest.fixture
def population(tmp_path):
    return write_images(tmp_path / "img", 12)


def run_learner(checkpoint, tmp_path, population, **options):
    learner = EmbeddingLearner(checkpoint=checkpoint, cache_dir=tmp_path / "cache", **options)
    learner.configure(classes=CLASSES, output_dir=tmp_path / "run")
    learner.set_population(population.drop(columns=["label"]))
    return learner


def test_the_combined_probabilities_are_valid_for_pool_rows_and_for_new_images(tmp_path, checkpoint, population):
    learner = run_learner(checkpoint, tmp_path, population)
    labelled = population.groupby("label").head(4)
    learner.fit(labelled)
    assert learner.graph_head_ is not None and 0 <= learner.graph_head_.weight <= 1
    new = write_images(tmp_path / "new", 3, seed=7)
    for frame in (population, new):
        probs = learner.predict_proba(frame.drop(columns=["label"]))
        assert probs.shape == (len(frame), 3)
        assert np.allclose(probs.sum(axis=1), 1) and (probs >= 0).all() and (probs <= 1).all()
    assert learner.last_fit_info_["graph_built"] is True


def test_a_saved_head_without_a_calibration_power_predicts_as_before_the_power_existed(tmp_path, checkpoint,
                                                                                      population):
    learner = run_learner(checkpoint, tmp_path, population)
    learner.fit(population.groupby("label").head(4))
    state, arrays = learner._population_graph.head_state(learner.graph_head_)
    assert state["power"] == learner.graph_head_.power == pytest.approx(learner.last_fit_info_["graph_power"], abs=1e-3)
    _, kept = PopulationGraph.from_head_state(dict(state), arrays)
    assert kept.power == learner.graph_head_.power, "a saved power is read back"
    del state["power"]
    _, old = PopulationGraph.from_head_state(state, arrays)
    assert old.power == 1.0 and old.weight == learner.graph_head_.weight
    graph = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    logistic = np.array([[0.2, 0.5, 0.3], [0.3, 0.3, 0.4]])
    assert np.allclose(old.mix(graph, logistic), old.weight * graph + (1 - old.weight) * logistic), \
        "without a power: the plain mixture, as before the calibration step"


def test_the_graph_is_kept_with_the_run_reused_for_the_same_pool_and_rebuilt_for_another(tmp_path, checkpoint,
                                                                                         population):
    labelled = population.groupby("label").head(3)
    first = run_learner(checkpoint, tmp_path, population)
    first.fit(labelled)
    saved = PoolGraph.load(tmp_path / "run" / "graph", first.pool_graph().fingerprint)
    assert saved is not None and len(saved) == len(population)
    first.fit(labelled)
    assert first.last_fit_info_["graph_built"] is False and first.last_fit_info_["graph_build_seconds"] == 0
    again = run_learner(checkpoint, tmp_path, population)
    again.fit(labelled)
    assert again.last_fit_info_["graph_built"] is False, "the same pool: the saved graph is read, not rebuilt"
    assert (again.pool_graph().weights != first.pool_graph().weights).nnz == 0
    smaller = population.drop(index=population.index[-1])
    changed = run_learner(checkpoint, tmp_path, smaller)
    changed.fit(labelled)
    assert changed.last_fit_info_["graph_built"] is True and len(changed.pool_graph()) == len(smaller)


def test_a_holdout_image_never_enters_the_graph(tmp_path, checkpoint, population):
    labelled = population.groupby("label").head(3)
    learner = run_learner(checkpoint, tmp_path, population)
    learner.fit(labelled)
    before = learner.pool_graph().weights.copy()
    holdout = write_images(tmp_path / "holdout", 4, seed=3)
    first = learner.predict_proba(holdout.drop(columns=["label"]))
    changed = write_images(tmp_path / "holdout", 4, seed=11)  # the same paths, other pixels: other vectors
    second = learner.predict_proba(changed.drop(columns=["label"]))
    assert not np.allclose(first, second), "the holdout's own vectors are read"
    assert (learner.pool_graph().weights != before).nnz == 0 and len(learner.pool_graph()) == len(population)


def test_graph_off_is_the_logistic_head_alone(tmp_path, checkpoint, population):
    labelled = population.groupby("label").head(3)
    plain = run_learner(checkpoint, tmp_path, population, graph="off").fit(labelled)
    assert plain.graph_head_ is None and "graph_weight" not in plain.last_fit_info_
    only = run_learner(checkpoint, tmp_path, population, graph="only").fit(labelled)
    assert only.graph_head_.weight == 1.0


@pytest.mark.parametrize("options, message", [
    ({"graph": "maybe"}, r"graph of the embeddings learner must be one of 'combine', 'only', 'off', got 'maybe'$"),
    ({"graph_neighbours": 0}, r"graph_neighbours must be an integer >= 1 or 'auto', got 0$"),
    ({"graph_search": "annoy"}, r"graph_search must be one of 'auto', 'exact', 'approximate', got 'annoy'$"),
])
def test_bad_graph_options_are_refused_naming_the_valid_values(checkpoint, options, message):
    with pytest.raises(InputError, match=message):
        EmbeddingLearner(checkpoint=checkpoint, **options).configure(classes=CLASSES)


def test_a_run_keeps_its_graph_and_a_resumed_run_reads_it(tmp_path, checkpoint, population, monkeypatch):
    monkeypatch.setenv("AUTOAL_CACHE_DIR", str(checkpoint.parent.parent))
    test = write_images(tmp_path / "test", 3, seed=5)
    result = autoal.run(population, test_df=test, learner="embeddings", strategy="margin", batch_size=3, n_rounds=2,
                        initial_per_class=2, output_dir=tmp_path / "run", verbose=False)
    history = result.history
    assert history["graph_built"].tolist() == [True, False, False]
    assert history["graph_weight"].between(0, 1).all()
    assert (tmp_path / "run" / "graph" / "graph.npz").exists()
    session = resume_session(tmp_path / "run")
    assert session.learner.pool_graph() is not None and session.learner._population_graph.built is False


def test_the_default_strategy_starts_from_the_coverage_pick_in_the_graph_space(tmp_path, checkpoint, population,
                                                                              monkeypatch):
    from autoal.query.cold_start import coverage_examples

    monkeypatch.setenv("AUTOAL_CACHE_DIR", str(checkpoint.parent.parent))
    result = autoal.run(population, learner="embeddings", batch_size=3, n_rounds=1, initial_per_class=1,
                        holdout_fraction=0, output_dir=tmp_path / "run", verbose=False)
    assert result.summary["settings"]["initial"] == "coverage"
    session = resume_session(tmp_path / "run")
    first = result.labels.loc[result.labels["round"] == 0, "example_id"].tolist()
    points = session.learner.coverage_space(session.inputs)
    assert points.shape == (len(population), session.learner.pool_graph().space.dims)
    expected = coverage_examples(points, len(CLASSES), random_state=session.config.random_state)
    assert sorted(first) == sorted(session.inputs.index[expected].tolist())
    off = autoal.run(population, learner="embeddings", learner_options={"graph": "off"}, batch_size=3, n_rounds=1,
                     initial_per_class=1, holdout_fraction=0, output_dir=tmp_path / "off", verbose=False)
    assert off.summary["settings"]["initial"] == "kmeans", "no graph: the typical pick, as before"
