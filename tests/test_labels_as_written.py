"""Labels and ids are read exactly as written, on every path that reads a manifest or a labels file.

A manifest's label cells are text: ``01`` and ``1`` (or ``1.0`` and ``1``) are two classes, ``NA``, ``None``,
``null``, ``NaN`` and ``N/A`` are class names (only an empty cell is "no label"); ids that are equal once
written as text are refused; a labels file with a malformed row is refused with its line number.
"""

import json
import sqlite3

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import autoal
from autoal.annotation.annotators import ExternalAnnotator
from autoal.cli.commands import main
from autoal.data.manifest import load_manifest
from autoal.errors import InputError

TRICKY = ["01", "1", "1.0", "NA", "None", "null", "NaN", "N/A", "nan", "#N/A"]


def write_manifest(folder, names, per_class=6, unlabelled_from=None) -> tuple:
    """A manifest (relative paths) with ``per_class`` images per class name; labels after the first
    ``unlabelled_from`` of each class left empty. Returns ``(path, [label cell as written, ...])``."""
    rng = np.random.default_rng(0)
    (folder / "img").mkdir(parents=True, exist_ok=True)
    lines, written = ["label,image_path"], []
    for k, name in enumerate(names):
        colour = np.array([(37 * k) % 256, (91 * k + 40) % 256, (151 * k + 80) % 256])
        for i in range(per_class):
            pixels = np.clip(colour + rng.normal(0, 10, (8, 8, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / "img" / f"{k}_{i}.png")
            cell = name if unlabelled_from is None or i < unlabelled_from else ""
            lines.append(f"{cell},img/{k}_{i}.png")
            written.append(cell)
    path = folder / "manifest.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, written


def test_load_manifest_keeps_every_label_as_written(tmp_path):
    path, written = write_manifest(tmp_path, TRICKY)
    frame = load_manifest(path)
    assert frame["label"].tolist() == written  # text, exactly: no NA strings, no number parsing
    assert frame["label"].nunique() == len(TRICKY)


def test_integer_class_ids_written_plainly_stay_integers(tmp_path):
    path, _ = write_manifest(tmp_path, ["0", "1", "10", "-2"], per_class=2, unlabelled_from=1)
    frame = load_manifest(path)
    assert frame["label"].dropna().tolist() == [0, 1, 10, -2]  # each reads back as written: str(1) == "1"
    assert frame["label"].isna().sum() == 4  # empty cells: no label


def test_integers_that_would_not_read_back_as_written_stay_text(tmp_path):
    path, written = write_manifest(tmp_path, ["0", "-0", "7"], per_class=2)
    assert load_manifest(path)["label"].tolist() == written  # -0 is not 0
    path, written = write_manifest(tmp_path / "long", ["1", "99999999999999999999"], per_class=2)
    assert load_manifest(path)["label"].tolist() == written  # beyond int64: text, not an overflow later


@pytest.mark.parametrize("rows, line", [
    ('"0,img/0_1.png\n0,img/0_2.png\n1,img/1_0.png"\n', 3),  # a stray quote closed at a row's end: valid CSV
    ('"0,img/0_1.png\n0,img/0_2.png\n', 3),  # never closed
    ("0,img/0_1.png,extra\n", 3),  # one cell too many
])
def test_a_malformed_manifest_row_is_an_error_with_its_line(tmp_path, capsys, rows, line):
    path, _ = write_manifest(tmp_path, ["0", "1"], per_class=3)
    text = path.read_text().splitlines(keepends=True)
    path.write_text("".join(text[:2]) + rows + "".join(text[4:]))
    with pytest.raises(InputError, match=f"manifest .* line {line}"):
        load_manifest(path)
    assert main(["run", str(path), "--learner", "fast", "--rounds", "1", "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert f"line {line}" in capsys.readouterr().err and not (tmp_path / "run" / "run.sqlite").exists()


def test_a_real_mode_run_stores_every_class_as_written(tmp_path, capsys):
    path, written = write_manifest(tmp_path, TRICKY, per_class=6, unlabelled_from=4)
    out = tmp_path / "run"
    assert main(["run", str(path), "--annotators", "alice", "--learner", "fast", "--batch-size", "4", "--rounds", "1",
                 "--out", str(out), "--quiet"]) == 0
    with sqlite3.connect(out / "run.sqlite") as db:
        classes = [name for (name,) in db.execute("SELECT name FROM classes ORDER BY idx")]
        given = dict(db.execute("SELECT example_id, label FROM labels WHERE annotator = 'given'").fetchall())
        pool = db.execute("SELECT COUNT(*) FROM examples WHERE split = 'pool'").fetchone()[0]
        test = db.execute("SELECT COUNT(*) FROM examples WHERE split = 'test'").fetchone()[0]
    assert sorted(classes) == sorted(TRICKY)  # 10 classes, none merged, none lost
    labelled = {str(k): cell for k, cell in enumerate(written) if cell}
    assert len(given) + test == len(labelled) and pool + test == len(written)
    for example_id, label in given.items():
        assert labelled[str(json.loads(example_id))] == label


def test_a_test_manifest_is_read_the_same_way(tmp_path, capsys):
    path, _ = write_manifest(tmp_path / "train", ["1", "2"], per_class=4)
    test_path, _ = write_manifest(tmp_path / "test", ["01", "2"], per_class=2)
    assert main(["run", str(path), "--test", str(test_path), "--learner", "fast", "--rounds", "1", "--batch-size", "2",
                 "--init-per-class", "1", "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert "the --test manifest has classes never seen in training: '01';" in capsys.readouterr().err  # '2' matches '2'


def test_ids_equal_as_text_are_refused(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for k in range(8):
        path = tmp_path / f"{k}.png"
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(path)
        rows.append({"label": ["cat", "dog"][k % 2], "image_path": str(path)})
    df = pd.DataFrame(rows, index=pd.Index([1, "1", 2, 3, 4, 5, 6, 7], dtype=object))
    df.loc[[4, 5, 6, 7], "label"] = np.nan
    with pytest.raises(InputError, match=r"df has 2 ids that are equal once written as text \(1 and '1'\)"):
        autoal.run(df, learner="fast", annotators=ExternalAnnotator("alice"), output_dir=tmp_path / "run",
                   verbose=False, holdout_fraction=0)
    assert not (tmp_path / "run" / "run.sqlite").exists()


# -- labels files (import-labels) --------------------------------------------------------------------------


@pytest.fixture
def waiting(tmp_path):
    """A real-mode run with file annotator alice, waiting in round 1 for 4 answers; ids are 0..N-1."""
    path, _ = write_manifest(tmp_path, ["cat", "dog"], per_class=10, unlabelled_from=4)
    out = tmp_path / "run"
    assert main(["run", str(path), "--annotators", "alice", "--learner", "fast", "--batch-size", "4", "--rounds", "2",
                 "--out", str(out), "--quiet", "--no-relabel"]) == 0
    assert main(["export-batch", str(out), "--annotator", "alice", "--out", str(tmp_path / "batch.csv")]) == 0
    ids = pd.read_csv(tmp_path / "batch.csv", dtype=str)["example_id"].tolist()
    return out, ids


def stored(out, annotator="alice"):
    with sqlite3.connect(out / "run.sqlite") as db:
        return db.execute("SELECT COUNT(*) FROM annotations WHERE annotator = ?", (annotator,)).fetchone()[0]


def test_a_stray_quote_is_an_error_with_its_line_and_nothing_is_stored(waiting, tmp_path, capsys):
    out, ids = waiting
    bad = tmp_path / "bad.csv"
    bad.write_text(f'example_id,label\n{ids[0]},cat\n"{ids[1]},dog\n{ids[2]},cat\n{ids[3]},dog\n')
    capsys.readouterr()
    assert main(["import-labels", str(out), str(bad), "--annotator", "alice"]) == 2
    err = capsys.readouterr().err
    assert "line 3" in err and "quote" in err
    assert stored(out) == 0  # refused as a whole: nothing half-read


def test_a_row_with_more_cells_than_the_header_is_an_error(waiting, tmp_path, capsys):
    out, ids = waiting
    bad = tmp_path / "bad.csv"
    bad.write_text(f"example_id,label\n{ids[0]},cat\n{ids[1]},big,dog\n")
    capsys.readouterr()
    assert main(["import-labels", str(out), str(bad), "--annotator", "alice"]) == 2
    assert "line 3 has 3 cells" in capsys.readouterr().err
    assert stored(out) == 0


def test_labels_in_a_file_are_matched_as_written(waiting, tmp_path, capsys):
    out, ids = waiting
    good = tmp_path / "good.csv"
    good.write_text(f"example_id,label\n{ids[0]},cat\n{ids[1]}, dog \n{ids[2]},NA\n")
    capsys.readouterr()
    assert main(["import-labels", str(out), str(good), "--annotator", "alice"]) == 1
    printed = capsys.readouterr().out
    assert "stored 2 labels" in printed and "line 4: 'NA' is not a class" in printed


# -- bad images under --check-images exists ---------------------------------------------------------------


def write_bomb(path, side=30000):
    """A PNG whose header declares ``side`` x ``side`` pixels (PIL refuses more than 2 x MAX_IMAGE_PIXELS as a
    decompression bomb) in a few dozen bytes."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def test_a_bomb_and_a_non_image_are_found_before_the_run_under_check_images_exists(tmp_path, capsys):
    path, _ = write_manifest(tmp_path, ["cat", "dog"], per_class=8, unlabelled_from=4)
    write_bomb(tmp_path / "img" / "0_5.png")
    (tmp_path / "img" / "1_6.png").write_text("not an image at all")
    out = tmp_path / "run"
    argv = ["run", str(path), "--annotators", "alice", "--learner", "fast", "--batch-size", "4", "--rounds", "1",
            "--check-images", "exists", "--quiet", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "2 of 16 images cannot be used" in err
    assert "0_5.png is not a readable image (DecompressionBombError)" in err
    assert "1_6.png is not a readable image (UnidentifiedImageError)" in err and "--drop-bad-images" in err
    assert not (out / "run.sqlite").exists()
    assert main(argv + ["--drop-bad-images"]) == 0  # dropped, and listed in the run's summary
    summary = json.loads((out / "summary.json").read_text())
    assert sorted(d["path"].rsplit("/", 1)[1] for d in summary["dropped_images"]) == ["0_5.png", "1_6.png"]


def test_an_image_broken_after_the_check_is_a_clear_error_that_resume_gets_past(waiting, tmp_path, capsys):
    out, ids = waiting
    with sqlite3.connect(out / "run.sqlite") as db:
        unlabelled = [json.loads(e) for (e,) in db.execute(
            "SELECT example_id FROM examples WHERE split = 'pool' AND label IS NULL AND pos NOT IN "
            "(SELECT example FROM assignments)")]
    broken = tmp_path / "img" / f"{unlabelled[0] // 10}_{unlabelled[0] % 10}.png"
    good = broken.read_bytes()
    write_bomb(broken)  # replaced by a bomb after the run checked it
    batch = tmp_path / "batch.csv"
    batch.write_text("example_id,label\n" + "".join(f"{i},cat\n" for i in ids))
    assert main(["import-labels", str(out), str(batch), "--annotator", "alice"]) == 0
    capsys.readouterr()
    assert main(["resume", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"could not read image {str(broken)!r} (DecompressionBombError" in err
    assert "replace it with a readable image and run the same command again" in err and "Traceback" not in err
    assert main(["resume", str(out), "--quiet"]) == 2  # the same clear error while the file is broken
    capsys.readouterr()
    broken.write_bytes(good)
    assert main(["resume", str(out), "--quiet"]) == 0  # and past it once the file is readable
    with sqlite3.connect(out / "run.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM annotations WHERE annotator = 'alice'").fetchone()[0] == 4
