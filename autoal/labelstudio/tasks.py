"""The open batch as Label Studio tasks, and the files ``autoal export-labelstudio`` writes.

``batch_tasks`` makes the examples waiting for answers into Label Studio tasks (the image as a
local-files URL, or a path; the example id, the annotator it waits for and the round in ``data``;
the model's guess as a prediction with ``model_version`` and the example's ActiveLab score as its
``score`` only when asked, as on autoal's page); ``export_labelstudio`` writes them with the matching
labeling config. :mod:`autoal.labelstudio.push` sends the same tasks through the API.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

import numpy as np

from autoal.annotation.batch_files import AnswerChecks
from autoal.annotation.specs import answering_later
from autoal.common.checks import StrOptions, check_option
from autoal.common.files import write_atomic
from autoal.errors import InputError, first_few
from autoal.store.run_state import open_run

__all__ = ["export_labelstudio", "labeling_config", "batch_tasks", "batch_images", "check_predictions", "image_root_of",
           "image_folder", "PREDICTIONS", "FROM_NAME", "TO_NAME", "LOCAL_FILES"]

FROM_NAME, TO_NAME = "label", "image"
LOCAL_FILES = "/data/local-files/?d="
#: Which tasks carry the model's guess as a pre-annotation, as on autoal's own page: none (default), those of
#: examples nobody labelled yet, or all (relabels too: a second opinion that saw the guess is less independent).
PREDICTIONS = ("none", "new", "all")


def labeling_config(classes) -> str:
    """Label Studio's labeling config for single-choice image classification over ``classes``."""
    choices = "\n".join(f"    <Choice value={quoteattr(str(c))}/>" for c in classes)
    return (f'<View>\n  <Image name="{TO_NAME}" value="$image" zoom="true"/>\n'
            f'  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single-radio" showInLine="true">\n'
            f"{choices}\n  </Choices>\n</View>\n")


def _open_batch(state, annotator):
    """``(rounds, positions, names)`` of open assignments: ``annotator``'s, else every answering-later annotator's."""
    who = [annotator] if annotator is not None else answering_later(state.settings)
    rounds, positions, names = state.snapshot().pending(annotators=who)
    return rounds, positions, names


def _stored_probs(state) -> dict:
    """``{position: probs}``: pick-time probabilities, else cross-validated ones."""
    k = len(state.classes)
    out = {}
    for kind in ("cv", "pick"):  # pick last: it wins
        examples, probs = state.store.probabilities(kind, k)
        out.update(zip(examples.tolist(), probs))
    return out


def activelab_scores(state, positions) -> dict:
    """``{position: ActiveLab score}`` for ``positions`` (lower = more worth an annotation), computed from the
    stored labels and the model probabilities the run kept; examples without kept probabilities get none.

    Labelled examples are scored as cleanlab scores a relabel, the others as a first label, on one scale.
    """
    from autoal.query.strategies import activelab

    snapshot = state.snapshot()
    probs = _stored_probs(state)
    labelled = np.array([p for p in snapshot.labelled.tolist() if p in probs], dtype=np.int64)
    wanted = [int(p) for p in positions if int(p) in probs]
    if not wanted:
        return {}
    matrix = snapshot.matrix(labelled, snapshot.annotators_used())
    keep = ~np.isnan(matrix).all(axis=0)
    matrix = matrix[:, keep]
    labelled_set = set(labelled.tolist())
    unlabelled = [p for p in wanted if p not in labelled_set]
    pool_probs = np.array([probs[p] for p in unlabelled]).reshape(len(unlabelled), len(state.classes))
    if len(labelled) and matrix.shape[1]:
        scores_l, scores_u = activelab(matrix, np.array([probs[p] for p in labelled.tolist()]), pool_probs)
    else:
        scores_l, scores_u = None, activelab(np.zeros((0, 1)), None, pool_probs)[1]
    out = dict(zip(unlabelled, np.asarray(scores_u, dtype=float).tolist()))
    if scores_l is not None:
        row = {p: k for k, p in enumerate(labelled.tolist())}
        out.update((p, float(scores_l[row[p]])) for p in wanted if p in row)
    return out


def check_predictions(predictions) -> str:
    """``predictions`` if it is one of :data:`PREDICTIONS`, else an InputError naming them."""
    return check_option("--predictions", predictions, StrOptions(PREDICTIONS), hint="none: no model guess in the "
                        "tasks; new: for examples nobody labelled yet; all: relabels too")


def batch_tasks(state, annotator=None, *, root=None, predictions="none") -> tuple:
    """The open batch as Label Studio tasks.

    Parameters
    ----------
    state : RunState
        The open run.
    annotator : str, optional
        Only the examples waiting for this annotator (default: everyone who answers later).
    root : Path, optional
        Label Studio's local-files document root: images become local-files URLs relative to it
        (None: absolute paths).
    predictions : {"none", "new", "all"}
        Which tasks carry the model's guess (see :data:`PREDICTIONS`).

    Returns
    -------
    (tasks, rounds)
        One task per open example (``data``: ``image``, ``example_id``, ``autoal_annotators``,
        ``autoal_round``; ``predictions`` as asked), and the rounds of the open assignments (int array).
    """
    check_predictions(predictions)
    if annotator is not None:
        AnswerChecks(state, None).check_annotator(annotator)
    rounds, positions, names = _open_batch(state, annotator)
    if not len(positions):
        return [], rounds
    files = [Path(p) for p in state.data.frame[state.settings["image_col"]].to_numpy()[positions]]
    guesses = _stored_probs(state) if predictions != "none" else {}
    counts = state.snapshot().counts
    wanted = [p for p in positions.tolist() if p in guesses and (predictions == "all" or counts[p] == 0)]
    scores = activelab_scores(state, wanted) if wanted else {}
    run_id = state.store.run_id[:8]
    by_example: dict = {}
    for r, p, name in zip(rounds.tolist(), positions.tolist(), names.tolist()):
        by_example.setdefault(p, {"round": r, "annotators": []})["annotators"].append(name)
    tasks = []
    for p, file in zip(positions.tolist(), files):
        if p not in by_example:
            continue
        info = by_example.pop(p)
        image = str(file) if root is None else LOCAL_FILES + quote(file.resolve().relative_to(root).as_posix(), safe="/")
        task = {"data": {"image": image, "example_id": str(state.ids[p]), "autoal_annotators": info["annotators"],
                         "autoal_round": info["round"]}}
        if p in wanted:
            best = str(state.classes[int(np.argmax(guesses[p]))])
            prediction = {"model_version": f"autoal-{run_id}-round-{info['round']}",
                          "result": [{"from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices",
                                      "value": {"choices": [best]}}]}
            if p in scores:
                prediction["score"] = round(float(scores[p]), 6)
            task["predictions"] = [prediction]
        tasks.append(task)
    return tasks, rounds


def batch_images(state, annotator=None) -> list:
    """The image files of the open batch (``annotator``'s, else everyone's who answers later)."""
    _, positions, _ = _open_batch(state, annotator)
    return [Path(p) for p in state.data.frame[state.settings["image_col"]].to_numpy()[positions]]


def export_labelstudio(run_dir, annotator=None, *, out_dir=None, image_root=None, paths=False,
                       predictions="none") -> tuple:
    """Write the open batch as Label Studio import JSON plus its labeling config.

    Parameters
    ----------
    run_dir : path-like
        The run folder.
    annotator : str, optional
        Only the examples waiting for this annotator (default: everyone who answers later).
    out_dir : path-like, optional
        Where the two files go (default ``RUN_DIR/labelstudio/``).
    image_root : path-like, optional
        Label Studio's ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``: images become local-files URLs relative
        to it (default: the folder above the deepest folder holding every exported image).
    paths : bool
        Put the images' absolute paths in ``data.image`` instead of local-files URLs.
    predictions : {"none", "new", "all"}
        Which tasks carry the model's guess as a pre-annotation (default none, as on autoal's page).

    Returns
    -------
    (tasks_path, config_path, image_root)
        ``image_root`` is None with ``paths``.
    """
    check_predictions(predictions)
    state = open_run(run_dir)
    try:
        if annotator is not None:
            AnswerChecks(state, None).check_annotator(annotator)
        files = batch_images(state, annotator)
        if not files:
            who = f"from {annotator!r}" if annotator else "from anyone who labels outside autoal"
            raise InputError(f"no labels are waiting {who}; `autoal resume {run_dir}` (or `autoal serve {run_dir}`) "
                             "picks the next batch")
        root = None if paths else image_root_of(files, image_root)
        tasks, rounds = batch_tasks(state, annotator, root=root, predictions=predictions)
        out = Path(out_dir) if out_dir else Path(run_dir) / "labelstudio"
        out.mkdir(parents=True, exist_ok=True)
        stem = f"round_{int(rounds.max()):02d}" + (f"_{_safe(annotator)}" if annotator else "")
        tasks_path, config_path = out / f"{stem}_tasks.json", out / "labeling_config.xml"
        write_atomic(tasks_path, json.dumps(tasks, indent=1, ensure_ascii=False) + "\n")
        write_atomic(config_path, labeling_config(state.classes))
        return tasks_path, config_path, root
    finally:
        state.close()


def _safe(name) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def image_root_of(files, image_root=None) -> Path:
    """Label Studio's local-files document root for ``files``: ``image_root`` (checked to hold them all), else
    the folder above the deepest folder holding every file (Label Studio refuses a Local files storage at
    its document root itself, so the images' folder must be below it)."""
    if image_root is not None:
        root = Path(image_root).expanduser().resolve()
        outside = [str(f) for f in files if not Path(f).resolve().is_relative_to(root)]
        if outside:
            raise InputError(f"{len(outside)} images are not under --image-root {str(root)!r} (e.g. "
                             f"{first_few(outside, 2)}); Label Studio serves local files only from under its document "
                             "root: pass a folder that holds every image, or --paths")
        return root
    return image_folder(files).parent


def image_folder(files) -> Path:
    """The deepest folder holding every one of ``files``."""
    return Path(os.path.commonpath([str(Path(f).resolve().parent) for f in files]))
