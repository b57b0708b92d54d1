"""benchmarks/peer_strategies.py: scikit-activeml's strategies run by autoal pick what scikit-activeml picks."""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import load_file_module, write_images
from PIL import Image

import autoal
from autoal.errors import InputError

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name):
    return load_file_module(BENCHMARKS / f"{name}.py")


sys.path.insert(0, str(BENCHMARKS))  # as compare_strategies.py imports it: one module, one PeerStrategy class
import peer_strategies as peers  # noqa: E402


class RecordingPeer(peers.PeerStrategy):
    """A peer that keeps what it handed scikit-activeml each round and what came back."""

    def __init__(self, method):
        super().__init__(method)
        self.calls = []

    def __call__(self, labels_multiannotator, pred_probs, pred_probs_unlabeled, *, rng, context):
        self.context = context
        return super().__call__(labels_multiannotator, pred_probs, pred_probs_unlabeled, rng=rng, context=context)

    def query(self, x, y, batch_size, *, random_state, n_classes):
        picked = super().query(x, y, batch_size, random_state=random_state, n_classes=n_classes)
        self.calls.append({"x": x.copy(), "y": y.copy(), "random_state": random_state, "batch_size": batch_size,
                           "picked": picked, "pool": self.context.pool.copy(), "labelled": self.context.labelled.copy()})
        return picked


def unit_thumbnails(paths, side=16):
    """The fast learner's features (16x16 RGB thumbnails / 255), read here with Pillow, scaled to unit length."""
    rows = [np.asarray(Image.open(p).convert("RGB").resize((side, side), Image.BILINEAR), dtype=np.float32).ravel()
            / 255.0 for p in paths]
    x = np.stack(rows)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def skactiveml_picks(method, x, y, batch_size, random_state, n_classes):
    """The picks of scikit-activeml's own class, built here as its documentation shows (not through the wrapper)."""
    from skactiveml.classifier import SklearnClassifier
    from skactiveml.pool import Badge, DropQuery, MaxHerding, ProbCover, TypiClust
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    make = {"typiclust": lambda: TypiClust(random_state=random_state),
            "probcover": lambda: ProbCover(n_classes=n_classes, random_state=random_state),
            "maxherding": lambda: MaxHerding(random_state=random_state),
            "dropquery": lambda: DropQuery(random_state=random_state, cluster_algo_dict={"random_state": random_state}),
            "badge": lambda: Badge(random_state=random_state)}
    extra = {}
    if method in ("dropquery", "badge"):
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=random_state))
        extra["clf"] = SklearnClassifier(clf, classes=np.arange(n_classes), missing_label=np.nan,
                                         random_state=random_state)
    return list(make[method]().query(x, y, batch_size=batch_size, **extra))


def picked_ids(result):
    return result.history.set_index("round")["picked_ids"].map(lambda t: json.loads(t) if isinstance(t, str) else list(t))


def run_peer(strategy, pool_df, test_df, folder, seed):
    return autoal.run(pool_df, test_df=test_df, strategy=strategy, batch="topk", initial="kmeans", learner="fast",
                      batch_size=3, n_rounds=2, initial_per_class=1, output_dir=folder, random_state=seed,
                      verbose=False)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("peers")
    return write_images(folder / "pool", 10), write_images(folder / "test", 2, seed=1)


@pytest.mark.parametrize("method", list(peers.PEERS))
def test_a_peer_run_by_autoal_picks_what_skactiveml_picks(method, images, tmp_path):
    pool_df, test_df = images
    peer = RecordingPeer(method)
    result = run_peer(peer, pool_df, test_df, tmp_path / "run", seed=7)
    picked, ids, truth = picked_ids(result), list(pool_df.index), pool_df["label"]
    classes = list(result.classes)
    assert [c["batch_size"] for c in peer.calls] == [3, 3]
    for r, call in enumerate(peer.calls, start=1):
        # X and y: the labelled examples (picked in earlier rounds) with their labels, then the pool with NaN
        labelled = [ids[p] for p in call["labelled"]]
        assert sorted(labelled) == sorted(i for earlier in range(r) for i in picked[earlier])
        rows = [ids[p] for p in np.concatenate([call["labelled"], call["pool"]])]
        assert len(rows) == len(ids) and sorted(rows) == sorted(ids)
        np.testing.assert_allclose(call["x"], unit_thumbnails(pool_df.loc[rows, "image_path"]), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(call["y"][:len(labelled)], [classes.index(truth[i]) for i in labelled])
        assert np.isnan(call["y"][len(labelled):]).all()
        # scikit-activeml's own picks for that X, y and seed are the round's batch, in its order
        expected = skactiveml_picks(method, call["x"], call["y"], 3, call["random_state"], 3)
        assert picked[r] == [rows[i] for i in expected]
    again = RecordingPeer(method)
    assert picked_ids(run_peer(again, pool_df, test_df, tmp_path / "again", seed=7)).tolist() == picked.tolist()
    assert [c["random_state"] for c in again.calls] == [c["random_state"] for c in peer.calls]


def test_the_seed_changes_the_draws_and_the_picks_of_a_random_peer(images, tmp_path):
    """BADGE draws its batch (k-means++ seeding): other run seeds give other draws and, here, other picks."""
    pool_df, test_df = images
    runs = [(peer := RecordingPeer("badge"), picked_ids(run_peer(peer, pool_df, test_df, tmp_path / str(s), seed=s)))
            for s in (1, 2, 3)]
    assert len({c["random_state"] for peer, _ in runs for c in peer.calls}) == 6
    assert len({json.dumps(picks.tolist()) for _, picks in runs}) > 1


def test_picked_scores_make_topk_take_exactly_the_picks_in_order():
    from autoal.query.batching import select_lowest

    scores = peers.picked_scores([4, 0, 2], 6)
    assert select_lowest(np.arange(6), scores, 3, random_state=0) == [4, 0, 2]
    with pytest.raises(ValueError, match="each must be a distinct pool row"):
        peers.picked_scores([4, 6], 6)
    with pytest.raises(ValueError, match="each must be a distinct pool row"):
        peers.picked_scores([1, 1], 6)


def test_an_unknown_peer_is_refused_naming_the_valid_ones():
    with pytest.raises(InputError, match="unknown peer strategy 'skactiveml:coreset'; choose one of "
                                         "skactiveml:typiclust, skactiveml:probcover, skactiveml:maxherding, "
                                         "skactiveml:dropquery, skactiveml:badge"):
        peers.make_peer("skactiveml:coreset")


def test_compare_strategies_takes_peers_with_auto_initial_set_and_refuses_bad_names(tmp_path):
    script = load("compare_strategies")
    config = script.parse_config("skactiveml:maxherding+graph=off")
    assert isinstance(config["strategy"], peers.PeerStrategy) and config["strategy"].method == "maxherding"
    assert (config["batch"], config["initial"], config["learner_options"]) == ("topk", "coverage", {"graph": "off"})
    assert script.parse_config("skactiveml:badge/init-random")["initial"] == "random"
    with pytest.raises(SystemExit, match="choose one of skactiveml:typiclust, .*skactiveml:badge"):
        script.parse_config("skactiveml:badgee")
    with pytest.raises(SystemExit, match="takes topk batches only"):
        script.parse_config("skactiveml:typiclust/kmeans")
    with pytest.raises(SystemExit, match=r"choose from \['auto', 'activelab', .*'skactiveml:typiclust'"):
        script.parse_config("margn")


def test_a_peer_and_auto_start_from_the_same_initial_set(tmp_path):
    """The comparison is fair: a peer and autoal's default label the same examples before the first pick."""
    pool_df = write_images(tmp_path / "pool", 10)
    pool_df.to_csv(tmp_path / "m.csv", index=False)
    script = load("compare_strategies")
    out = tmp_path / "out"
    script.main(["--manifest", str(tmp_path / "m.csv"), "--strategies", "auto,skactiveml:typiclust,random",
                 "--seeds", "1", "--learner", "fast", "--rounds", "1", "--batch-size", "3", "--init-per-class", "1",
                 "--compare-to", "auto", "--out", str(out)])
    results = pd.read_csv(out / "results.csv")
    assert set(results["strategy"]) == {"auto", "skactiveml:typiclust", "random"}
    first = results[results["round"] == 0].set_index("strategy")["accuracy"]
    assert first["auto"] == first["skactiveml:typiclust"]
    assert results.loc[results["round"] == 1, ["score_seconds", "select_seconds"]].gt(0).all().all()
    # the initial sets themselves, run by autoal.run with the options the script passes
    starts = {}
    for name in ("auto", "skactiveml:typiclust", "random"):
        config = script.parse_config(name)
        config.pop("learner_options")
        result = autoal.run(pool_df, **config, learner="fast", batch_size=3, n_rounds=1, initial_per_class=1,
                            output_dir=tmp_path / name.replace(":", "_"), random_state=0, verbose=False)
        starts[name] = sorted(picked_ids(result)[0])
    assert starts["auto"] == starts["skactiveml:typiclust"] != starts["random"]


def test_the_package_does_not_import_skactiveml():
    import subprocess

    code = "import autoal, sys; print('skactiveml' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
