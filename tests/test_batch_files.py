"""The CSV round trip: export-batch, import-labels, resume; every bad file keeps the good rows."""

import multiprocessing

import numpy as np
import pandas as pd
import pytest
from conftest import stored_labels

import autoal
from autoal.annotation.annotators import ExternalAnnotator
from autoal.annotation.batch_files import export_batch, import_labels
from autoal.cli.commands import main
from autoal.errors import InputError
from autoal.store.run_state import open_run


@pytest.fixture
def waiting_run(images, tmp_path):
    """A real-mode run with two file-based annotators, paused in round 1 waiting for their labels (new
    examples only, so the label counts below are simple)."""
    df = images.copy()
    df.loc[df.groupby("label").cumcount() >= 4, "label"] = np.nan
    out = tmp_path / "run"
    result = autoal.run(df, learner="fast", annotators=[ExternalAnnotator("alice"), ExternalAnnotator("bob")],
                        relabel=False, batch_size=6, n_rounds=2, output_dir=out, verbose=False)
    assert "round 1 waits for labels from alice (3 of 3 pending), bob (3 of 3 pending)" in result.summary["stop_reason"]
    return out, images["label"]


def fill(path, truth, edit=None):
    frame = pd.read_csv(path)
    frame["label"] = [truth[i] for i in frame["example_id"]]
    if edit:
        frame = edit(frame)
    frame.to_csv(path, index=False)
    return frame


def test_export_import_resume_round_trip(waiting_run, tmp_path, capsys):
    out, truth = waiting_run
    assert main(["export-batch", str(out), "--annotator", "alice"]) == 0
    path = out / "batches" / "round_01_alice.csv"
    exported = pd.read_csv(path, keep_default_na=False)
    assert list(exported.columns) == ["example_id", "image_path", "label"] and (exported["label"] == "").all()
    assert len(exported) == 3
    fill(path, truth)
    assert main(["import-labels", str(out), str(path), "--annotator", "alice"]) == 0
    assert "stored 3 labels" in capsys.readouterr().out
    waiting = autoal.resume(out, verbose=False)  # bob has not answered: the round waits for him, by name
    assert waiting.history["round"].tolist() == [0]
    assert "round 1 waits for labels from bob (3 of 3 pending)" in waiting.summary["stop_reason"]
    assert "alice" not in waiting.summary["stop_reason"].split(":")[0]
    result = autoal.resume(out, verbose=False, partial=True)  # go on without him
    assert result.history["round"].tolist() == [0, 1]
    assert result.history["n_labeled"].tolist() == [9, 12]
    assert "round 2 waits for labels" in result.summary["stop_reason"]


def test_a_late_file_is_accepted_after_the_run_moved_on(waiting_run, capsys):
    """alice and bob export round 1; alice imports; the run goes on; bob's round-1 file still lands."""
    out, truth = waiting_run
    late = fill(export_batch(out, "bob", out / "bob_round1.csv"), truth)
    fill(export_batch(out, "alice"), truth)
    import_labels(out, out / "batches" / "round_01_alice.csv", "alice")
    moved_on = autoal.resume(out, verbose=False, partial=True)
    assert moved_on.history["round"].tolist() == [0, 1] and "round 2 waits" in moved_on.summary["stop_reason"]
    report = import_labels(out, out / "bob_round1.csv", "bob")
    assert (report.stored, report.rejected) == (3, [])
    labels = stored_labels(out)
    bob = labels[labels["annotator"] == "bob"]
    assert sorted(bob["example_id"]) == sorted(late["example_id"]) and set(bob["round"]) == {1}
    again = pd.read_csv(export_batch(out, "bob"))  # what bob still owes: round 2 only
    assert not set(again["example_id"]) & set(late["example_id"]) and len(again) == 3


def test_resume_names_who_is_pending_and_partial_keeps_their_examples_theirs(waiting_run):
    out, truth = waiting_run
    fill(export_batch(out, "alice"), truth)
    import_labels(out, out / "batches" / "round_01_alice.csv", "alice")
    bob_round_1 = set(pd.read_csv(export_batch(out, "bob"))["example_id"])
    result = autoal.resume(out, verbose=False, partial=True)
    state = open_run(out)
    picked_in_2 = set(state.ids_of(state.snapshot().assigned_in(2)))
    assert len(picked_in_2) == 6
    alice_now = set(pd.read_csv(export_batch(out, "alice"))["example_id"])
    assert not (alice_now | picked_in_2) & bob_round_1, "bob's open examples were handed to someone else"
    assert bob_round_1 <= set(pd.read_csv(export_batch(out, "bob"))["example_id"])
    assert "round 2 waits for labels from alice (3 of 3 pending), bob (3 of 3 pending)" in result.summary["stop_reason"]


def test_resume_without_any_imported_label_keeps_waiting(waiting_run):
    out, _ = waiting_run
    result = autoal.resume(out, verbose=False)
    assert "round 1 waits for labels" in result.summary["stop_reason"] and len(result.history) == 1


def test_bad_rows_are_rejected_with_line_numbers_and_good_rows_kept(waiting_run):
    out, truth = waiting_run
    path = export_batch(out, "alice")

    def spoil(frame):
        frame.loc[0, "label"] = "purple"
        extra = pd.DataFrame([{"example_id": 999, "image_path": "x", "label": "red"},
                              {"example_id": frame.loc[1, "example_id"], "image_path": "", "label": "red"}])
        return pd.concat([frame, extra], ignore_index=True)

    fill(path, truth, spoil)
    report = import_labels(out, path, "alice")
    assert report.stored == 2
    reasons = dict(report.rejected)
    assert "'purple' is not a class; classes: 'blue', 'green', 'red'" in reasons[2]
    assert "example '999' was never assigned to alice" in reasons[5]
    assert "appears again (first on line 3)" in reasons[6]
    again = import_labels(out, path, "alice")
    assert again.stored == 0 and sum("already labelled" in why for _, why in again.rejected) == 2


def test_bom_crlf_blank_lines_and_extra_columns(waiting_run):
    out, truth = waiting_run
    path = export_batch(out, "bob")
    frame = fill(path, truth)
    frame["note"] = "checked"
    frame.loc[2, "label"] = ""
    text = frame.to_csv(index=False, lineterminator="\r\n")
    lines = text.split("\r\n")
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines[:2] + ["", ",,,"] + lines[2:]).encode())
    report = import_labels(out, path, "bob")
    assert report.stored == 2 and report.blank == 1 and report.rejected == []
    assert report.ignored_columns == ["note"] and "ignored column ['note']" in report.message()


def test_missing_columns_store_nothing(waiting_run, tmp_path):
    out, _ = waiting_run
    (tmp_path / "bad.csv").write_text("id,answer\n1,red\n")
    with pytest.raises(InputError, match=r"lacks column\(s\) \['example_id', 'label'\]"):
        import_labels(out, tmp_path / "bad.csv", "alice")


def test_unknown_annotator_and_not_utf8(waiting_run, tmp_path, capsys):
    out, _ = waiting_run
    with pytest.raises(InputError, match=r"annotator 'carol' is not in this run; its annotators are \['alice', 'bob'\]"):
        export_batch(out, "carol")
    (tmp_path / "latin.csv").write_bytes("example_id,label\n1,caf\xe9\n".encode("latin-1"))
    assert main(["import-labels", str(out), str(tmp_path / "latin.csv"), "--annotator", "alice"]) == 2
    assert "is not a readable UTF-8 CSV" in capsys.readouterr().err


def test_partial_import_exits_1(waiting_run, capsys):
    out, truth = waiting_run
    path = export_batch(out, "alice")
    fill(path, truth, lambda f: f.assign(label=["red", "purple", "blue"]))
    assert main(["import-labels", str(out), str(path), "--annotator", "alice"]) == 1
    assert "line 3: 'purple' is not a class" in capsys.readouterr().out


def _import(out, path, name, queue):
    queue.put(import_labels(out, path, name).stored)


def test_two_processes_importing_at_once_both_land(waiting_run):
    out, truth = waiting_run
    paths = {}
    for name in ("alice", "bob"):
        paths[name] = export_batch(out, name)
        fill(paths[name], truth)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_import, args=(out, paths[n], n, queue)) for n in ("alice", "bob")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert sorted(queue.get(timeout=5) for _ in procs) == [3, 3]
    result = autoal.resume(out, verbose=False)
    assert result.history["n_labeled"].tolist() == [9, 15]


def test_import_labels_says_what_happened_and_who_is_pending(waiting_run, capsys):
    out, truth = waiting_run
    path = export_batch(out, "alice")
    fill(path, truth, lambda f: f.assign(label=[truth[f.loc[0, "example_id"]], "purple", ""]))
    assert main(["import-labels", str(out), str(path), "--annotator", "alice"]) == 1
    printed = capsys.readouterr().out
    assert "stored 1 label; 1 row left blank (still open); rejected 1 row:\n  line 3: 'purple'" in printed
    assert f"round 1 still waits for alice (2 examples), bob (3 examples); `autoal resume {out} --partial`" in printed
    assert f"`autoal resume {out}` trains" not in printed


def test_import_labels_suggests_resume_only_once_the_batch_is_complete(waiting_run, capsys):
    out, truth = waiting_run
    paths = {name: export_batch(out, name) for name in ("alice", "bob")}
    fill(paths["alice"], truth)
    fill(paths["bob"], truth, lambda f: pd.concat([f, f.iloc[:2]], ignore_index=True))  # two repeated rows
    assert main(["import-labels", str(out), str(paths["alice"]), "--annotator", "alice"]) == 0
    first = capsys.readouterr().out
    assert "stored 3 labels" in first and "round 1 still waits for bob (3 examples)" in first and "complete" not in first
    assert main(["import-labels", str(out), str(paths["bob"]), "--annotator", "bob"]) == 1
    second = capsys.readouterr().out
    assert "stored 3 labels; rejected 2 rows:" in second
    assert f"round 1's batch is complete: `autoal resume {out}` trains on the new labels" in second


def test_a_row_never_assigned_names_the_run_folder(waiting_run, tmp_path):
    out, _ = waiting_run
    (tmp_path / "stray.csv").write_text("example_id,label\n999,red\n")
    report = import_labels(out, tmp_path / "stray.csv", "alice")
    why = dict(report.rejected)[2]
    assert f"`autoal export-batch {out} --annotator alice`" in why and "RUN_DIR" not in why


def test_import_labels_after_the_last_round_says_how_to_go_on(waiting_run, capsys):
    out, truth = waiting_run
    paths = {name: export_batch(out, name) for name in ("alice", "bob")}
    fill(paths["alice"], truth, lambda f: f.assign(label=""))  # alice answers later
    fill(paths["bob"], truth)
    import_labels(out, paths["bob"], "bob")
    autoal.resume(out, verbose=False, partial=True, n_rounds=1)  # round 1 trains without alice: the run's rounds are done
    fill(paths["alice"], truth)
    assert main(["import-labels", str(out), str(paths["alice"]), "--annotator", "alice"]) == 0
    printed = capsys.readouterr().out
    assert "stored 3 labels" in printed and "the run has done its rounds" in printed
    assert f"`autoal resume {out} --rounds N` trains on them" in printed
