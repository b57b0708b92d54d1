"""Label Studio tasks from the open batch, and Label Studio answers into the run: through files, and the
pieces :mod:`autoal.labelstudio.live` uses through the API.

``batch_tasks`` makes the examples waiting for answers into Label Studio tasks (the image as a
local-files URL, or a path; the example id, the annotator it waits for and the round in ``data``;
the model's guess as a prediction with ``model_version`` and the example's ActiveLab score as its
``score`` only when asked, as on autoal's page); ``export_labelstudio`` writes them with the matching
labeling config. ``store_answers`` stores Label Studio annotations: each author comes from
``--annotator`` (one person answered everything) or from ``completed_by`` (a Label Studio user id or
email, mapped to a name by :class:`UserMatcher`), ``was_cancelled`` is a skip, and every annotation is
checked exactly as ``import-labels`` checks a CSV row (:class:`autoal.annotation.batch_files.AnswerChecks`), good
ones stored one by one, bad ones reported by task; ``import_labelstudio`` does it for a JSON export.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

import numpy as np

from autoal.annotation.batch_files import AnswerChecks, ImportReport, waiting_round
from autoal.errors import InputError, first_few
from autoal.common.files import write_atomic
from autoal.store.run_state import open_run

__all__ = ["export_labelstudio", "import_labelstudio", "labeling_config", "parse_user_map", "LabelStudioReport",
           "batch_tasks", "store_answers", "UserMatcher", "PREDICTIONS", "FROM_NAME", "TO_NAME"]

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


# -- export ------------------------------------------------------------------------------------------


def _open_batch(state, annotator):
    """``(rounds, positions, names)`` of open assignments: ``annotator``'s, else every answering-later annotator's."""
    specs = dict(zip(state.settings.get("annotator_names", []), state.settings.get("annotators", [])))
    later = [n for n, s in specs.items() if s and s.get("kind") in ("page", "external")]
    who = [annotator] if annotator is not None else later
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
    if predictions not in PREDICTIONS:
        raise InputError(f"--predictions must be one of {list(PREDICTIONS)} (none: no model guess in the tasks; new: "
                         f"for examples nobody labelled yet; all: relabels too), got {predictions!r}")
    return predictions


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


# -- import ------------------------------------------------------------------------------------------


@dataclass
class LabelStudioReport(ImportReport):
    """What :func:`import_labelstudio` did: labels stored, skips stored (``was_cancelled``), tasks without
    an answer, and rejected annotations ``(where, why)``."""

    skipped: int = 0
    tasks: int = 0
    by_annotator: dict = field(default_factory=dict)
    outcomes: list = field(default_factory=list)

    def message(self) -> str:
        """What happened, one line, then the rejected annotations with their task and annotation ids."""
        who = ", ".join(f"{n}: {k}" for n, k in sorted(self.by_annotator.items()))
        text = (f"read {_count(self.tasks, 'task')}; stored {_count(self.stored, 'label')}" + (f" ({who})" if who else "")
                + f", {_count(self.skipped, 'skip')} (was_cancelled); {_count(self.blank, 'task')} without an answer")
        if self.rejected:
            text += (f"; rejected {_count(len(self.rejected), 'annotation')}:\n"
                     + "\n".join(f"  {where}: {why}" for where, why in self.rejected))
        return text


def _count(n, word) -> str:
    """``1 label``, ``2 labels``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def parse_user_map(spec) -> dict:
    """Label Studio users to annotator names, from ``"1=alice,bob@example.com=bob"`` or a JSON file holding
    such a dict, or Label Studio's user list (``GET /api/users/``: ``[{"id", "email", "username"}, ...]``,
    mapping each id to its email).

    Returns
    -------
    dict
        ``{str(user id or email): name or email}``.
    """
    if spec is None:
        return {}
    if isinstance(spec, dict):
        return {str(k): str(v) for k, v in spec.items()}
    path = Path(str(spec)).expanduser()
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"user map {str(path)!r} is not JSON ({exc}); give a JSON object "
                             '{"1": "alice"} or Label Studio\'s user list, or inline 1=alice,2=bob') from None
        if isinstance(data, dict):
            return {str(k): str(v) for k, v in data.items()}
        if isinstance(data, list) and all(isinstance(u, dict) and "id" in u and u.get("email") for u in data):
            return {str(u["id"]): str(u["email"]) for u in data}
        raise InputError(f"user map {str(path)!r} must be a JSON object such as {{\"1\": \"alice\"}} or Label Studio's "
                         "user list ([{\"id\": 1, \"email\": ...}, ...])")
    out = {}
    for part in str(spec).split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InputError(f"user map entry {part!r} is not USER=NAME; write e.g. --user-map 1=alice,2=bob "
                             "(Label Studio user ids or emails), or pass a JSON file")
        out[key.strip()] = value.strip()
    return out


class UserMatcher:
    """Who wrote a Label Studio annotation, as a run annotator's name.

    ``annotator`` (one person answered everything) wins; else the user's id or email in ``user_map``
    (:func:`parse_user_map`); else the email itself or its part before ``@`` when that is an annotator.
    Calling it with an annotation's ``completed_by`` (an id, or ``{"id", "email"}``) returns
    ``(name, None)`` or ``(None, why)``.
    """

    def __init__(self, names, annotator=None, user_map=None, *, flag="--user-map"):
        self.names, self.annotator, self.map, self.flag = list(names), annotator, user_map or {}, flag

    def _by_email(self, email):
        if email in self.names:
            return email
        local = email.split("@", 1)[0]
        return local if local in self.names else None

    def __call__(self, completed_by) -> tuple:
        """``(name, None)`` or ``(None, why)``."""
        if self.annotator is not None:
            return self.annotator, None
        if isinstance(completed_by, dict):
            user, email = completed_by.get("id"), completed_by.get("email")
        else:
            user, email = completed_by, None
        for key in (str(user) if user is not None else None, email):
            if key is not None and key in self.map:
                value = self.map[key]
                name = value if value in self.names else (self._by_email(value) if "@" in value else None)
                if name is None:
                    return None, (f"Label Studio user {key} maps to {value!r}, which is not an annotator of this run "
                                  f"(annotators: {first_few(self.names, 10)})")
                return name, None
        if email:
            name = self._by_email(email)
            if name is not None:
                return name, None
        who = email or user
        return None, (f"Label Studio user {who!r} is not mapped to an annotator of this run; pass {self.flag} "
                      f"{who}=NAME (or --annotator NAME when one person answered every task)")


def _choice(result) -> tuple:
    """``(label text or None, why refused or None)`` of an annotation's ``result``."""
    if not isinstance(result, list):
        return None, "its result is not a list"
    picked = [item for item in result if isinstance(item, dict) and item.get("from_name") == FROM_NAME
              and item.get("type") == "choices"]
    if not picked:
        return None, None
    choices = picked[0].get("value", {}).get("choices") if isinstance(picked[0].get("value"), dict) else None
    if not isinstance(choices, list) or len(picked) > 1 or len(choices) != 1 or not isinstance(choices[0], str):
        return None, "it does not choose exactly one class (choices: " + repr(choices)[:80] + ")"
    return choices[0], None


def _read_export(path) -> list:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Label Studio export {str(path)!r} does not exist; pass the JSON file Label Studio exported")
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{str(path)!r} is not JSON ({exc}); export the project from Label Studio as JSON "
                         "(Export > JSON, or GET /api/projects/ID/export?exportType=JSON)") from None
    if not isinstance(data, list) or not all(isinstance(t, dict) for t in data):
        raise InputError(f"{str(path)!r} is not a Label Studio JSON export (a list of tasks); export as JSON, not "
                         "JSON_MIN or CSV")
    if data and not any("annotations" in t for t in data):
        raise InputError(f"{str(path)!r} has tasks without 'annotations' (JSON_MIN or a task import file?); export "
                         "the project as JSON (exportType=JSON)")
    return data


def import_labelstudio(run_dir, export_path, *, annotator=None, user_map=None) -> LabelStudioReport:
    """Store the answers of a Label Studio JSON export in the run.

    Parameters
    ----------
    run_dir : path-like
        The run folder.
    export_path : path-like
        Label Studio's JSON export (a list of tasks with their ``annotations``).
    annotator : str, optional
        The run annotator who wrote every annotation; otherwise each annotation's ``completed_by`` is
        resolved through ``user_map`` or its email.
    user_map : str, dict or path, optional
        See :func:`parse_user_map`.

    Each annotation is checked as ``import-labels`` checks a row (:class:`autoal.annotation.batch_files.AnswerChecks`):
    its example (``data.example_id``) must be waiting for that annotator, its one choice must be a class,
    an example may be answered once per person. A cancelled annotation (``was_cancelled``) is stored as a
    skip. Good answers are committed one by one; rejected ones are reported with their task and annotation ids.
    """
    mapping = parse_user_map(user_map)
    tasks = _read_export(export_path)
    state = open_run(run_dir)
    try:
        if annotator is not None:
            AnswerChecks(state, None).check_annotator(annotator)
        return store_answers(state, tasks, UserMatcher(state.settings["annotator_names"], annotator, mapping))
    finally:
        state.close()


def store_answers(state, tasks, users, *, done=frozenset(), record=None) -> LabelStudioReport:
    """Check and store the annotations of Label Studio ``tasks`` (dicts as in its JSON export).

    Parameters
    ----------
    state : RunState
        The open run.
    tasks : list of dict
        Tasks with ``id``, ``data.example_id`` and ``annotations`` (``id``, ``completed_by``, ``result``,
        ``was_cancelled``).
    users : UserMatcher
        Label Studio users to annotator names.
    done : set of int
        Annotation ids handled before (left alone).
    record : callable, optional
        Called as ``record(annotation id, example id, annotator or None, outcome)`` right after each
        annotation is dealt with (outcomes as below).

    Returns
    -------
    LabelStudioReport
        Its ``outcomes`` list ``(annotation id, example id, annotator or None, outcome)`` for every
        annotation looked at, outcome ``"stored"``, ``"skip"``, ``"blank"``, ``"user"`` (not matched to an
        annotator) or ``"rejected"``.
    """
    report = LabelStudioReport(tasks=len(tasks))
    checks, seen = AnswerChecks(state, report), {}
    for k, task in enumerate(tasks):
        task_name = f"task {task.get('id', f'#{k + 1}')}"
        data = task.get("data") if isinstance(task.get("data"), dict) else {}
        text_id = data.get("example_id")
        answered = [a for a in task.get("annotations") or [] if isinstance(a, dict) and a.get("id") not in done]
        if text_id is None:
            report.rejected.append((task_name, "it has no data.example_id: import tasks written by "
                                    "`autoal export-labelstudio` (or `autoal labelstudio push`) into Label Studio"))
            continue
        text_id = str(text_id).strip()
        if not answered and not task.get("annotations"):
            report.blank += 1
        for annotation in answered:
            _store_one(checks, report, users, seen, task_name, text_id, annotation)
            if record is not None:
                record(*report.outcomes[-1])
    report.round, report.pending = waiting_round(state)
    report.rounds_done = report.round > state.settings["n_rounds"]
    return report


def _store_one(checks, report, users, seen, task_name, text_id, annotation) -> None:
    where = f"{task_name} (annotation {annotation.get('id', '?')}, example {text_id!r})"
    name, why = users(annotation.get("completed_by"))
    outcome = "rejected"
    if name is None:
        outcome = "user"
    elif annotation.get("was_cancelled"):
        why = checks.skip(name, text_id, seen.get((name, text_id)))
        if not why:
            report.skipped += 1
            outcome = "skip"
    else:
        label, why = _choice(annotation.get("result"))
        if not why and label is None:
            report.blank += 1
            report.outcomes.append((annotation.get("id"), text_id, name, "blank"))
            return
        if not why:
            before = report.stored
            why = checks.label(name, text_id, label, seen.get((name, text_id)))
            if report.stored > before:
                report.by_annotator[name] = report.by_annotator.get(name, 0) + 1
                outcome = "stored"
    if name is not None:
        seen.setdefault((name, text_id), task_name)
    if why:
        report.rejected.append((where, why.replace("appears again (first on line", "appears again (first in")))
    report.outcomes.append((annotation.get("id"), text_id, name, outcome))
