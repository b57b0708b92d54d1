"""The manifest builder on a tiny tree with every Caltech-256 quirk, the manifest check, and the command."""

from __future__ import annotations

import argparse
import csv
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import load_file_module, skip_for_platform

from autoal.errors import InputError
from autoal.data.manifest import load_manifest
from autoal.data.manifest_builder import BuildReport, build_manifest
from autoal.data.manifest_check import check_manifest
from autoal.cli.manifest import add_manifest_arguments, manifest_command

ROOT = "256_ObjectCategories"
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "prepare_manifest.py"


def save_image(path, seed, *, grey=False, fmt=None, size=16):
    """Write a noise image (distinct bytes per seed) and return its path."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size, size) if grey else (size, size, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format=fmt)
    return path


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def caltech_tree(base) -> Path:
    """A Caltech-256 look-alike: 18 images in 4 kept classes, plus every quirk the builder must handle."""
    tree = base / "data" / ROOT
    for i in range(1, 6):
        save_image(tree / "001.ak47" / f"001_{i:04d}.jpg", 100 + i)
    save_image(tree / "001.ak47" / "001_0006.JPG", 106, fmt="JPEG")  # uppercase extension
    save_image(tree / "002.american-flag" / "002_0001.jpg", 201, grey=True)  # grayscale JPEG
    save_image(tree / "002.american-flag" / "002_0002.jpg", 202)
    save_image(tree / "002.american-flag" / "002_0003.jpg", 203)
    save_image(tree / "002.american-flag" / "002_0004.dat", 204, fmt="PNG")  # an image found by content
    shutil.copy(tree / "001.ak47" / "001_0002.jpg", tree / "002.american-flag" / "002_0005.jpg")  # duplicate
    for i in range(1, 4):
        save_image(tree / "056.dog" / f"056_{i:04d}.jpg", 560 + i)
    save_image(tree / "056.dog" / "greg" / "056_0099.jpg", 599)  # nested folder: not searched
    outside = save_image(base / "elsewhere" / "stray.jpg", 999)
    os.symlink(outside, tree / "056.dog" / "outside.jpg")  # link leaving the tree
    for i in range(1, 4):
        save_image(tree / "198.spider" / f"198_{i:04d}.jpg", 1980 + i)
    truncate(save_image(tree / "198.spider" / "198_0004.jpg", 1984, size=64))  # truncated
    (tree / "198.spider" / "RENAME2").write_text("rename the files\n")
    (tree / "198.spider" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(64))
    os.symlink(Path("..") / "001.ak47" / "001_0001.jpg", tree / "198.spider" / "198_link.jpg")  # link inside
    for i in range(1, 3):
        save_image(tree / "257.clutter" / f"257_{i:04d}.jpg", 2570 + i)
    (tree / "100.empty").mkdir()
    (tree / "README.txt").write_text("Caltech-256\n")
    save_image(tree / ".thumbnails" / "t.jpg", 7)  # hidden folder: no class
    return tree


@pytest.fixture
def tree(tmp_path):
    return caltech_tree(tmp_path)


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def build(tree, **options):
    out = tree.parent / "caltech.csv"
    return out, build_manifest(tree, out, drop_classes=["257.clutter"], **options)


def test_caltech_quirks_are_counted_and_reported(tree):
    out, report = build(tree, sha256=True)
    assert (report.n_images, report.n_classes) == (18, 4)
    assert report.class_counts == {"001.ak47": 6, "002.american-flag": 5, "056.dog": 3, "198.spider": 4}
    assert report.dropped_classes == ["257.clutter"]
    assert report.empty_classes == ["100.empty"]
    skipped = dict(report.skipped)
    assert sorted(skipped) == [".thumbnails", "056.dog/greg", "056.dog/outside.jpg", "198.spider/.DS_Store",
                               "198.spider/RENAME2", "README.txt"]
    assert skipped[".thumbnails"] == "hidden folder"
    assert "not searched" in skipped["056.dog/greg"]
    assert "outside the tree" in skipped["056.dog/outside.jpg"]
    assert skipped["198.spider/RENAME2"] == skipped["198.spider/.DS_Store"] == "not an image"
    assert "top folder" in skipped["README.txt"]
    assert [p for p, _ in report.bad_images] == ["198.spider/198_0004.jpg"]
    assert "not a readable image" in report.bad_images[0][1]
    assert report.duplicates == [
        ["001.ak47/001_0001.jpg", "198.spider/198_link.jpg"],
        ["001.ak47/001_0002.jpg", "002.american-flag/002_0005.jpg"],
    ]


def test_manifest_columns_paths_and_order(tree):
    out, report = build(tree, sha256=True)
    rows = read_rows(out)
    assert list(rows[0]) == ["label", "image_path", "sha256"]
    assert len(rows) == 18
    paths = [r["image_path"] for r in rows]
    assert paths[:6] == [f"{ROOT}/001.ak47/001_000{i}.jpg" for i in range(1, 6)] + [f"{ROOT}/001.ak47/001_0006.JPG"]
    assert f"{ROOT}/002.american-flag/002_0004.dat" in paths
    assert all("\\" not in p and not p.startswith("/") for p in paths)
    assert [(r["label"], r["image_path"]) for r in rows] == sorted((r["label"], r["image_path"]) for r in rows)
    assert {r["label"] for r in rows} == set(report.class_counts)
    assert all(len(r["sha256"]) == 64 for r in rows)
    assert out.read_bytes().startswith(b"label,image_path,sha256\n")


def test_build_is_deterministic(tree):
    out, _ = build(tree, sha256=True, test_fraction=0.25, seed=3)
    first = out.read_bytes()
    out, _ = build(tree, sha256=True, test_fraction=0.25, seed=3)
    assert out.read_bytes() == first


def test_load_manifest_reads_the_built_manifest(tree):
    out, _ = build(tree, test_fraction=0.25)
    frame = load_manifest(out)
    assert len(frame) == 18
    assert list(frame.columns) == ["label", "image_path"]  # split is bookkeeping, dropped by load_manifest
    assert all(Path(p).is_file() for p in frame["image_path"])
    assert set(frame["label"]) == {"001.ak47", "002.american-flag", "056.dog", "198.spider"}


def split_tree(base, sizes):
    tree = base / "split_tree"
    for k, (cls, n) in enumerate(sizes.items()):
        for i in range(n):
            save_image(tree / cls / f"{i:03d}.png", 100 * k + i, fmt="PNG", size=4)
    return tree


@pytest.mark.parametrize("fraction, expected_test", [
    (0.25, {"one": 0, "two": 1, "ten": 2, "seven": 2}),
    (0.9, {"one": 0, "two": 1, "ten": 9, "seven": 6}),
    (0.01, {"one": 0, "two": 1, "ten": 1, "seven": 1}),
])
def test_stratified_split_per_class_counts(tmp_path, fraction, expected_test):
    sizes = {"one": 1, "two": 2, "ten": 10, "seven": 7}
    tree = split_tree(tmp_path, sizes)
    out = tmp_path / "m.csv"
    report = build_manifest(tree, out, test_fraction=fraction, seed=0)
    rows = read_rows(out)
    assert list(rows[0]) == ["label", "image_path", "split"]
    test_counts = {cls: sum(r["split"] == "test" for r in rows if r["label"] == cls) for cls in sizes}
    assert test_counts == expected_test
    assert {r["split"] for r in rows} == {"train", "test"}
    assert report.n_test == sum(expected_test.values())


def test_split_depends_on_the_seed_only(tmp_path):
    tree = split_tree(tmp_path, {"a": 10, "b": 10})

    def test_set(seed, name):
        build_manifest(tree, tmp_path / name, test_fraction=0.3, seed=seed)
        return {r["image_path"] for r in read_rows(tmp_path / name) if r["split"] == "test"}

    assert test_set(5, "x.csv") == test_set(5, "y.csv")
    assert len({frozenset(test_set(seed, f"s{seed}.csv")) for seed in range(4)}) > 1
    # A class's draw does not depend on the other classes: dropping "b" leaves "a"'s test images alone.
    with_b = {p for p in test_set(5, "z.csv") if "/a/" in p}
    shutil.rmtree(tree / "b")
    save_image(tree / "c" / "0.png", 1, fmt="PNG", size=4)
    save_image(tree / "c" / "1.png", 2, fmt="PNG", size=4)
    assert {p for p in test_set(5, "w.csv") if "/a/" in p} == with_b


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.2, "0.2", True])
def test_bad_test_fraction_is_refused(tree, bad):
    with pytest.raises(InputError, match=r"test_fraction must be a number in \(0, 1\) or None, got .*; e.g. 0.2$"):
        build(tree, test_fraction=bad)


def test_keep_and_drop_classes(tree):
    out = tree.parent / "two.csv"
    report = build_manifest(tree, out, keep_classes=["001.ak47", "056.dog"])
    assert report.class_counts == {"001.ak47": 6, "056.dog": 3}
    assert sorted(report.dropped_classes) == ["002.american-flag", "100.empty", "198.spider", "257.clutter"]
    assert {r["label"] for r in read_rows(out)} == {"001.ak47", "056.dog"}
    report = build_manifest(tree, out)  # without drop_classes the clutter class is a class like any other
    assert report.class_counts["257.clutter"] == 2
    with pytest.raises(InputError, match="drop_classes names class folders that are not in the tree: '257.clutterr'"):
        build_manifest(tree, out, drop_classes=["257.clutterr"])


def test_missing_tree_is_refused(tmp_path):
    with pytest.raises(InputError, match="does not exist; pass the folder that holds one sub-folder per class"):
        build_manifest(tmp_path / "nowhere", tmp_path / "m.csv")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(InputError, match="is not a folder"):
        build_manifest(tmp_path / "file.txt", tmp_path / "m.csv")


def test_empty_tree_is_refused(tmp_path):
    (tmp_path / "tree").mkdir()
    save_image(tmp_path / "tree" / "loose.jpg", 1)  # an image in the root is no class
    with pytest.raises(InputError, match="has no class folders; it must hold one sub-folder per class"):
        build_manifest(tmp_path / "tree", tmp_path / "m.csv")
    assert not (tmp_path / "m.csv").exists()


def test_one_class_tree_is_refused(tmp_path):
    save_image(tmp_path / "tree" / "cat" / "1.jpg", 1)
    save_image(tmp_path / "tree" / "cat" / "2.jpg", 2)
    (tmp_path / "tree" / "dog").mkdir()
    (tmp_path / "tree" / "dog" / "notes.txt").write_text("no images here")
    with pytest.raises(InputError, match="a manifest for active learning needs at least 2 classes.*'dog'"):
        build_manifest(tmp_path / "tree", tmp_path / "m.csv")
    with pytest.raises(InputError, match="at least 2 classes"):  # dropping classes can leave one, too
        build_manifest(caltech_tree(tmp_path / "c"), tmp_path / "m.csv", keep_classes=["001.ak47"])


def test_manifest_outside_the_tree_needs_allow_outside(tree, tmp_path):
    out = tmp_path / "manifests" / "caltech.csv"
    with pytest.raises(InputError, match="allow_outside=True"):
        build_manifest(tree, out, drop_classes=["257.clutter"])
    assert not out.parent.exists()  # refused before anything was written
    report = build_manifest(tree, out, drop_classes=["257.clutter"], allow_outside=True)
    assert report.n_images == 19  # the link leaving the tree is followed now
    assert "056.dog/outside.jpg" not in dict(report.skipped)
    paths = [r["image_path"] for r in read_rows(out)]
    assert all(p.startswith(f"../data/{ROOT}/") for p in paths)
    assert all(Path(p).is_file() for p in load_manifest(out)["image_path"])
    with pytest.raises(InputError, match="outside its folder"):
        check_manifest(out)
    assert check_manifest(out, allow_outside=True).ok


def test_non_utf8_file_name_is_skipped(tmp_path):
    tree = split_tree(tmp_path, {"a": 2, "b": 2})
    png = (tree / "a" / "000.png").read_bytes()
    try:
        fd = os.open(os.fsencode(tree / "a") + b"/caf\xe9.png", os.O_CREAT | os.O_WRONLY, 0o644)
        os.write(fd, png)
        os.close(fd)
        os.mkdir(os.fsencode(tree) + b"/\xff-class")
    except (OSError, UnicodeError):
        skip_for_platform("this file system refuses file names that are not UTF-8")
    out = tmp_path / "m.csv"
    report = build_manifest(tree, out)
    assert report.n_images == 4
    skipped = dict(report.skipped)
    assert sorted(skipped) == ["\\xff-class", "a/caf\\xe9.png"]
    assert all("not valid UTF-8" in why for why in skipped.values())
    # The manifest holds exactly the four UTF-8-named images, and nothing of the two others.
    rows = [(r["label"], r["image_path"]) for r in read_rows(out)]
    assert rows == [(cls, f"split_tree/{cls}/{i:03d}.png") for cls in ("a", "b") for i in range(2)]
    # The message names both with their bytes escaped (no lone surrogates that printing would choke on).
    text = report.message()
    for name in ("a/caf\\xe9.png", "\\xff-class"):
        assert f"    {name} (name is not valid UTF-8" in text
    assert text.isascii(), "undecodable bytes are written as \\xNN, not as lone surrogates or guessed letters"


def test_report_message_lists_the_first_few_problems(tree):
    _, report = build(tree, sha256=True, test_fraction=0.25)
    text = report.message()
    assert "18 images in 4 classes" in text
    assert "images per class: 3 to 6" in text
    assert "split: 13 train, 5 test" in text
    assert "skipped 6 files or folders" in text and "198.spider/.DS_Store (not an image)" in text
    assert "... (1 more)" in text and "RENAME2" not in text  # the first 5 of each kind
    assert "1 images do not decode" in text and "198.spider/198_0004.jpg" in text
    assert "2 groups of identical files" in text
    assert "100.empty" in text and "257.clutter" in text
    many = BuildReport(skipped=[(f"c/{i}.txt", "not an image") for i in range(9)])
    assert "... (4 more)" in many.message() and "c/5.txt" not in many.message()


def test_check_manifest_finds_missing_changed_and_unreadable(tree):
    out, _ = build(tree, sha256=True)
    report = check_manifest(out)
    assert report.ok and report.n_rows == 18 and report.checked_sha256
    (tree / "001.ak47" / "001_0003.jpg").unlink()
    save_image(tree / "002.american-flag" / "002_0002.jpg", 12345)  # still an image, other bytes
    truncate(tree / "056.dog" / "056_0001.jpg")
    report = check_manifest(out)
    assert not report.ok
    assert report.missing == [f"{ROOT}/001.ak47/001_0003.jpg"]
    assert report.changed == [f"{ROOT}/002.american-flag/002_0002.jpg"]
    assert [p for p, _ in report.unreadable] == [f"{ROOT}/056.dog/056_0001.jpg"]
    text = report.message()
    assert "1 files missing" in text and "1 files changed" in text and "1 files unreadable" in text


def test_check_without_sha256_ignores_changes(tree):
    out, _ = build(tree)
    save_image(tree / "002.american-flag" / "002_0002.jpg", 12345)
    report = check_manifest(out)
    assert report.ok and not report.checked_sha256
    assert "all 18 images present, readable" in report.message()


def test_check_refuses_paths_outside_the_manifest_folder(tmp_path):
    save_image(tmp_path / "outside.png", 1, fmt="PNG")
    manifest = tmp_path / "sub" / "m.csv"
    manifest.parent.mkdir()
    manifest.write_text("label,image_path\na,../outside.png\nb,inside/../../outside.png\n", encoding="utf-8-sig")
    with pytest.raises(InputError, match="2 image paths outside its folder.*allow_outside=True"):
        check_manifest(manifest)
    assert check_manifest(manifest, allow_outside=True).ok
    manifest.write_text(f"label,image_path\na,{tmp_path / 'outside.png'}\n")
    with pytest.raises(InputError, match="outside its folder"):
        check_manifest(manifest)
    manifest.write_text("label,image_path\na,ok/../fine.png\n")  # .. that stays inside is fine
    assert check_manifest(manifest).missing == ["ok/../fine.png"]


def test_check_refuses_a_bad_manifest(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        check_manifest(tmp_path / "none.csv")
    (tmp_path / "m.csv").write_text("label,path\na,x.png\n")
    with pytest.raises(InputError, match="has no column 'image_path'"):
        check_manifest(tmp_path / "m.csv")
    (tmp_path / "m.csv").write_text("label,image_path\na,\n")
    with pytest.raises(InputError, match="line 2 has no image_path"):
        check_manifest(tmp_path / "m.csv")
    (tmp_path / "m.csv").write_bytes(b"label,image_path\n\xff,x.png\n")
    with pytest.raises(InputError, match="not a readable UTF-8 CSV"):
        check_manifest(tmp_path / "m.csv")


def parse(argv):
    return add_manifest_arguments(argparse.ArgumentParser(prog="autoal manifest")).parse_args(argv)


def test_manifest_command_exit_codes(tree, capsys):
    out = tree.parent / "cli.csv"
    args = parse([str(tree), "--out", str(out), "--sha256", "--test-fraction", "0.25", "--seed", "1",
                  "--drop-class", "257.clutter", "--drop-class", "100.empty"])
    assert args.drop_classes == ["257.clutter", "100.empty"]
    assert manifest_command(args) == 0
    printed = capsys.readouterr().out
    assert "18 images in 4 classes" in printed
    # Every option reached build_manifest: the same call from Python writes the same bytes and report.
    api = build_manifest(tree, tree.parent / "api.csv", sha256=True, test_fraction=0.25, seed=1,
                         drop_classes=["257.clutter", "100.empty"])
    assert out.read_bytes() == (tree.parent / "api.csv").read_bytes()
    assert printed.rstrip("\n") == api.message().replace("api.csv", "cli.csv")
    rows = read_rows(out)
    assert list(rows[0]) == ["label", "image_path", "sha256", "split"]
    assert {r["label"] for r in rows}.isdisjoint({"257.clutter", "100.empty"})
    assert {r["split"] for r in rows} == {"train", "test"} and all(len(r["sha256"]) == 64 for r in rows)
    assert manifest_command(parse(["--check", str(out)])) == 0
    assert "all 18 images present, readable and unchanged" in capsys.readouterr().out
    (tree / "056.dog" / "056_0002.jpg").unlink()
    assert manifest_command(parse(["--check", str(out)])) == 1
    assert f"{ROOT}/056.dog/056_0002.jpg" in capsys.readouterr().out
    assert manifest_command(parse([str(tree.parent / "nowhere"), "--out", str(out)])) == 2
    assert capsys.readouterr().err.startswith("autoal: error: image tree")
    assert manifest_command(parse([str(tree)])) == 2
    assert "needs TREE and --out" in capsys.readouterr().err
    assert manifest_command(parse([str(tree), "--check", str(out)])) == 2
    assert "not both" in capsys.readouterr().err


def test_script_calls_the_command(tree, capsys):
    script = load_file_module(SCRIPT)
    out = tree.parent / "script.csv"
    assert script.main([str(tree), "--out", str(out), "--drop-class", "257.clutter"]) == 0
    assert len(read_rows(out)) == 18
    assert script.main(["--check", str(out)]) == 0
    assert script.main([str(tree), "--out", str(out), "--test-fraction", "2"]) == 2
    assert "test_fraction must be a number in (0, 1) or None, got 2.0; e.g. 0.2" in capsys.readouterr().err
