"""Every bad input gets a clear InputError before any training starts."""

import numpy as np
import pandas as pd
import pytest
from conftest import FixedLearner, write_images

import autoal
from autoal.data.labels import normalize_labels
from autoal.errors import InputError


def run_fast(df, **kwargs):
    kwargs.setdefault("learner", FixedLearner({}))
    kwargs.setdefault("strategy", "margin")  # pinned: "auto" would depend on the pretrained weights being installed
    kwargs.setdefault("batch_size", 5)
    kwargs.setdefault("n_rounds", 1)
    kwargs.setdefault("initial_per_class", 2)
    kwargs.setdefault("verbose", False)
    return autoal.run(df, **kwargs)


@pytest.mark.parametrize("column", ["label", "image_path"])
def test_missing_column_names_it_and_the_fix(images, column, tmp_path):
    with pytest.raises(InputError, match=f"df has no column '{column}'.*pass"):
        run_fast(images.drop(columns=[column]), output_dir=tmp_path / "out")


def test_missing_image_files_are_counted_and_listed(images, tmp_path):
    images.loc[[0, 1, 2], "image_path"] = [str(tmp_path / f"gone{i}.png") for i in range(3)]
    with pytest.raises(InputError, match=r"3 of 60 images cannot be used: .*gone0.png does not exist.*drop_bad_images=True"):
        run_fast(images, output_dir=tmp_path / "out")


def test_drop_bad_images_drops_and_records_them(images, tmp_path):
    images.loc[0, "image_path"] = str(tmp_path / "gone.png")
    (tmp_path / "notes.txt").write_text("not an image")
    images.loc[1, "image_path"] = str(tmp_path / "notes.txt")
    result = run_fast(images, drop_bad_images=True, output_dir=tmp_path / "out")
    dropped = {d["path"]: d["reason"] for d in result.summary["dropped_images"]}
    assert dropped[str(tmp_path / "gone.png")] == "does not exist"
    assert "not a readable image" in dropped[str(tmp_path / "notes.txt")]
    assert result.summary["n_examples"] + result.summary["n_test"] == 58


def test_non_image_file_is_rejected(images, tmp_path):
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    images.loc[5, "image_path"] = str(tmp_path / "data.csv")
    with pytest.raises(InputError, match=r"data.csv is not a readable image"):
        run_fast(images, output_dir=tmp_path / "out")


def test_truncated_image_is_rejected(images, tmp_path):
    path = images.loc[3, "image_path"]
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    with pytest.raises(InputError, match="is not a readable image"):
        run_fast(images, output_dir=tmp_path / "out")


def test_mixed_label_types_are_rejected(images, tmp_path):
    images["label"] = images["label"].astype(object)
    images.loc[0, "label"] = 7
    with pytest.raises(InputError, match=r"mixes label types: int \(e.g. id 0: 7\), str .*df\[.label.\].astype\(str\)"):
        run_fast(images, output_dir=tmp_path / "out")


def test_fractional_labels_are_rejected():
    with pytest.raises(InputError, match="label 2.5 .* is not a class"):
        normalize_labels(pd.Series([1.0, 2.5]))


def test_integral_float_labels_become_ints():
    out = normalize_labels(pd.Series([1.0, np.nan, 3.0]))
    assert out.iloc[0] == 1 and type(out.iloc[0]) is int and pd.isna(out.iloc[1])


def test_class_with_one_labelled_example_cannot_be_split(images, tmp_path):
    df = images.copy()
    df.loc[df.label == "blue", "label"] = np.nan
    df.loc[df.index[df.label.isna()][0], "label"] = "blue"
    with pytest.raises(InputError, match=r"fewer than 2 labelled examples.*'blue'.*test_df"):
        run_fast(df, annotators=lambda ex: ["red"] * len(ex), output_dir=tmp_path / "out")


def test_only_one_class_is_rejected(tmp_path):
    df = write_images(tmp_path / "img", 6, classes=("red",))
    with pytest.raises(InputError, match="only one class \\('red'\\)"):
        run_fast(df, output_dir=tmp_path / "out")


@pytest.mark.parametrize("argument,value", [("batch_size", 0), ("batch_size", -3), ("n_rounds", 0), ("initial_per_class", 0)])
def test_non_positive_counts_are_rejected(images, tmp_path, argument, value):
    with pytest.raises(InputError, match=f"{argument} must be an integer >= 1, got {value}$"):
        run_fast(images, output_dir=tmp_path / "out", **{argument: value})


def test_unknown_learner_lists_the_valid_ones(images, tmp_path):
    with pytest.raises(InputError, match="learner must be one of 'autogluon', 'fast', .*, got 'xgb'"):
        run_fast(images, learner="xgb", output_dir=tmp_path / "out")


def test_unknown_strategy_is_rejected_before_training(images, tmp_path):
    learner = FixedLearner({})
    with pytest.raises(InputError, match="strategy must be one of .*, got 'coreset'"):
        run_fast(images, strategy="coreset", learner=learner, output_dir=tmp_path / "out")
    assert learner.fitted_on == []


def test_duplicate_ids_are_listed(images, tmp_path):
    df = images.copy()
    df.index = [0, 0, 1, 1] + list(range(2, 58))
    with pytest.raises(InputError, match=r"2 duplicate ids \(0, 1\)"):
        run_fast(df, output_dir=tmp_path / "out")


def test_duplicate_ids_in_an_id_column(images, tmp_path):
    df = images.assign(uid=["x"] * 2 + [f"id{i}" for i in range(58)])
    with pytest.raises(InputError, match=r"1 duplicate ids \('x'\)"):
        run_fast(df, id_col="uid", output_dir=tmp_path / "out")


def test_test_set_with_unseen_class_is_rejected(images, tmp_path):
    test_df = write_images(tmp_path / "test", 3, classes=("red", "grey"))
    with pytest.raises(InputError, match=r"test_df has classes never seen in training: 'grey'"):
        run_fast(images, test_df=test_df, output_dir=tmp_path / "out")


def test_missing_labels_without_annotator_say_what_to_pass(images, tmp_path):
    df = images.copy()
    df.loc[df.groupby("label").cumcount() >= 4, "label"] = np.nan
    with pytest.raises(InputError, match="48 rows without a label and no annotator was given: pass annotators="):
        run_fast(df, output_dir=tmp_path / "out")


def test_no_labels_at_all(images, tmp_path):
    with pytest.raises(InputError, match="no labelled rows"):
        run_fast(images.assign(label=np.nan), annotators=lambda ex: [None] * len(ex), output_dir=tmp_path / "out")


def test_not_a_dataframe():
    with pytest.raises(InputError, match="must be a pandas DataFrame"):
        run_fast([{"label": 1}])


def test_output_dir_holding_a_run_is_not_overwritten(images, tmp_path):
    run_fast(images, learner="fast", output_dir=tmp_path / "out")
    with pytest.raises(InputError, match="already holds a run"):
        run_fast(images, learner="fast", output_dir=tmp_path / "out")


def test_truncated_images_are_caught_even_after_autogluon_relaxed_pil(images, tmp_path):
    from PIL import ImageFile

    from PIL import Image

    path = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path, quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # a JPEG cut in half: only strict decoding notices
    images.loc[3, "image_path"] = str(path)
    ImageFile.LOAD_TRUNCATED_IMAGES = True  # what importing autogluon.multimodal does to the whole process
    try:
        with pytest.raises(InputError, match="is not a readable image"):
            run_fast(images, output_dir=tmp_path / "out")
        assert ImageFile.LOAD_TRUNCATED_IMAGES is True, "the setting is restored after the check"
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def test_big_image_sets_decode_a_sample_and_all_files_must_exist(tmp_path, monkeypatch):
    from autoal.data import image_files as data_module
    from autoal.data.image_files import find_bad_images

    good = write_images(tmp_path / "img", 4)["image_path"].tolist()  # 12 images
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    paths = good + [str(broken), str(tmp_path / "missing.png")]
    monkeypatch.setattr(data_module, "FULL_CHECK_LIMIT", 5)
    monkeypatch.setattr(data_module, "CHECK_SAMPLE", 3)
    every = dict(find_bad_images(paths, decode="all"))
    assert set(every) == {str(broken), str(tmp_path / "missing.png")}
    not_an_image = "is not a readable image (UnidentifiedImageError)"
    assert dict(find_bad_images(paths, decode="exists")) == {str(tmp_path / "missing.png"): "does not exist",
                                                             str(broken): not_an_image}  # found by its header
    decoded = []
    monkeypatch.setattr("autoal.common.images.decode_check", lambda path: decoded.append(path))
    sampled = dict(find_bad_images(paths, decode="auto"))
    assert len(decoded) == 3 and set(decoded) <= set(paths[:-1]), "a sample of 3 of the 13 files that exist"
    headers_read = {str(tmp_path / "missing.png"): "does not exist"}
    if str(broken) not in decoded:  # the files not decoded have their header read
        headers_read[str(broken)] = not_an_image
    assert sampled == headers_read
    with pytest.raises(InputError, match="check_images must be one of 'auto', 'all', 'exists', got 'some'$"):
        run_fast(write_images(tmp_path / "img2", 3), check_images="some", output_dir=tmp_path / "out")
