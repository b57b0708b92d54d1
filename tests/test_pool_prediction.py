"""Pool scoring in this process or over Ray workers (a local 2-CPU Ray runtime started by the tests)."""

import pickle
import sys

import numpy as np
import pytest
from conftest import write_images
from learners.test_contract import CLASSES
from test_embedding_cache import mobilenet_checkpoint

from autoal.vision.cache import EmbeddingCache, file_key
from autoal.errors import InputError, MissingDependencyError
from autoal.learners import EmbeddingLearner, FastLearner
from autoal.rounds.pool_prediction import RayScorer, _split, make_scorer, predict_pool


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray runtime with 2 CPUs for the module; shut down afterwards."""
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'ray>=2.9'")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return mobilenet_checkpoint(tmp_path_factory)


@pytest.fixture(scope="module")
def train_and_pool(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scoring")
    train = write_images(folder / "train", 4)
    pool = write_images(folder / "pool", 5, seed=1).drop(columns=["label"])
    return train, pool


def fitted(learner, train, tmp_path):
    return learner.configure(classes=CLASSES, output_dir=tmp_path / "out").fit(train)


# -- choosing where to score (no Ray runtime needed) ---------------------------------------------


def test_local_scoring_is_predict_proba(train_and_pool, tmp_path):
    train, pool = train_and_pool
    learner = fitted(FastLearner(), train, tmp_path)
    for scoring in (None, "local"):
        assert make_scorer(scoring) is None
        np.testing.assert_array_equal(predict_pool(learner, pool, scoring), learner.predict_proba(pool))


@pytest.mark.parametrize("scoring", ["gpu", "rayy", "ray:/head:1", "head:99999", "", 3])
def test_an_unknown_scoring_names_the_valid_forms(scoring, train_and_pool, tmp_path):
    learner = fitted(FastLearner(), *train_and_pool[:1], tmp_path)
    with pytest.raises(InputError, match=r"unknown scoring .*use None or 'local'.*'ray://host:port'"):
        predict_pool(learner, train_and_pool[1], scoring)


def test_addresses_and_worker_counts_are_checked_when_the_scorer_is_made(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # making a scorer neither imports Ray nor connects
    local, remote = make_scorer("ray"), make_scorer("ray://head")
    assert isinstance(local, RayScorer) and (local.address, local.num_workers) == (None, None)
    assert isinstance(remote, RayScorer) and remote.address == "ray://head"
    assert not local.started_ and not remote.started_ and local.last_info_ == remote.last_info_ == {}
    scorer = RayScorer("10.0.0.1:6379", num_workers=3)
    assert make_scorer(scorer) is scorer and scorer.num_workers == 3
    with pytest.raises(InputError, match=r"unknown scoring 'ray:/head:1'; use None or 'local'"):
        RayScorer("ray:/head:1")
    with pytest.raises(InputError, match=r"unknown scoring 'head:99999'"):
        RayScorer("head:99999", num_workers=2)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(InputError, match=rf"num_workers must be an integer >= 1 or None, got {bad!r}.*; None uses all the CPUs Ray reports$"):
            RayScorer(num_workers=bad)


def test_an_unreachable_address_fails_fast_naming_the_fix(monkeypatch):
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'ray>=2.9'")
    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # as in a process without Ray running
    with pytest.raises(InputError, match=r"cannot reach a Ray cluster at 'ray://127.0.0.1:1' .*ray start --head.*scoring=None"):
        RayScorer("ray://127.0.0.1:1", connect_timeout=2).connect()


def test_a_connection_error_from_ray_becomes_an_input_error(monkeypatch):
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'ray>=2.9'")
    monkeypatch.setattr(ray, "is_initialized", lambda: False)

    def refuse(**_):
        raise ConnectionError("Could not find any running Ray instance")

    monkeypatch.setattr(ray, "init", refuse)
    with pytest.raises(InputError, match=r"cannot reach a Ray cluster at 'auto' \(ConnectionError: Could not find"):
        make_scorer("auto").connect()


def test_missing_ray_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'ray>=2.9'.*scoring=None"):
        RayScorer().connect()


def test_shards_are_contiguous_and_cover_every_row():
    assert _split(10, 3) == [(0, 3), (3, 7), (7, 10)]
    assert _split(2, 2) == [(0, 1), (1, 2)]


def test_worker_copies_drop_what_workers_rebuild(train_and_pool, checkpoint, tmp_path):
    train, pool = train_and_pool
    fast = fitted(FastLearner(), train, tmp_path)
    assert fast._thumbnails and fast.worker_copy()._thumbnails == {} and fast._thumbnails, \
        "the original keeps its thumbnails"
    emb = fitted(EmbeddingLearner(checkpoint=checkpoint, image_size=32), train, tmp_path)
    twin = pickle.loads(pickle.dumps(emb.worker_copy()))
    assert twin._backbone_set is None and twin.backbones == [str(checkpoint)]
    assert twin.embedder.backbone_id == emb.embedder.backbone_id
    np.testing.assert_allclose(twin.embedder.embed(pool["image_path"][:3]), emb.embedder.embed(pool["image_path"][:3]), atol=1e-5)


# -- on a local Ray runtime -----------------------------------------------------------------------


@pytest.mark.ray
def test_ray_scoring_of_the_fast_learner_equals_local_scoring(ray_cluster, train_and_pool, tmp_path):
    train, pool = train_and_pool
    learner = fitted(FastLearner(), train, tmp_path)
    scorer = RayScorer(num_workers=2)
    probs = predict_pool(learner, pool, scorer)
    np.testing.assert_allclose(probs, learner.predict_proba(pool), rtol=0, atol=1e-6)
    info = scorer.last_info_
    assert (info["scoring"], info["workers"], info["rows"]) == ("ray", 2, len(pool)) and info["seconds"] > 0
    np.testing.assert_allclose(predict_pool(learner, pool.iloc[:1], "ray"), learner.predict_proba(pool.iloc[:1]), atol=1e-6)


@pytest.mark.ray
def test_ray_scoring_of_the_embeddings_learner_equals_local_and_fills_the_cache(
        ray_cluster, train_and_pool, checkpoint, tmp_path):
    train, pool = train_and_pool
    local = fitted(EmbeddingLearner(checkpoint=checkpoint, image_size=32, cache_dir=tmp_path / "local"), train, tmp_path)
    remote = fitted(EmbeddingLearner(checkpoint=checkpoint, image_size=32, cache_dir=tmp_path / "ray"), train, tmp_path)
    scorer = RayScorer()  # as many shards as the runtime has CPUs: 2
    probs = predict_pool(remote, pool, scorer)
    assert (scorer.last_info_["workers"], scorer.last_info_["embedded"]) == (2, len(pool))
    np.testing.assert_allclose(probs, local.predict_proba(pool), rtol=0, atol=1e-6)

    keys = [file_key(p) for p in pool["image_path"]]
    backbone, dim = remote.embedder.backbone_id, remote.embedder.num_features
    from_ray, missing = EmbeddingCache(remote.cache.folder, backbone, dim).get_many(keys)
    from_local, _ = EmbeddingCache(local.cache.folder, backbone, dim).get_many(keys)
    assert not missing.any(), "the driver wrote every vector the workers computed"
    np.testing.assert_allclose(from_ray, from_local, rtol=1e-5, atol=1e-5)

    predict_pool(remote, pool, scorer)
    assert (scorer.last_info_["workers"], scorer.last_info_["embedded"]) == (0, 0), "a second call reads the cache"


@pytest.mark.ray
@pytest.mark.autogluon
def test_ray_scoring_of_the_autogluon_learner_loads_the_saved_predictor(ray_cluster, train_and_pool, tmp_path):
    from autoal.learners import AutoGluonLearner

    train, pool = train_and_pool
    learner = fitted(AutoGluonLearner(max_epochs=1, image_size=32, fits_per_round=1), train, tmp_path)
    twin = pickle.loads(pickle.dumps(learner.worker_copy()))
    assert twin.predictor_ is None and twin.predictor_paths_ == [learner.last_fit_info_["model_dir"]]
    scorer = RayScorer(num_workers=2)
    # a worker runs the network with its own thread count: float32 sums in another order differ in the last bits
    # (seen: 1.04e-6), so the same model is asserted to within 1e-5, far below any difference in the argmax
    local = learner.predict_proba(pool)
    remote = predict_pool(learner, pool, scorer)
    np.testing.assert_allclose(remote, local, rtol=0, atol=1e-5)
    assert (remote.argmax(axis=1) == local.argmax(axis=1)).all()
    assert scorer.last_info_["workers"] == 2
