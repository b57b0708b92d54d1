"""Label Studio answers into the run: from a JSON export (``autoal import-labelstudio``), and the checks
:mod:`autoal.labelstudio.pull` uses for the answers it pulls through the API.

``store_answers`` stores Label Studio annotations: each author comes from ``--annotator`` (one person
answered everything) or from ``completed_by`` (a Label Studio user id or email, mapped to a name by
:class:`UserMatcher`), ``was_cancelled`` is a skip, and every annotation is checked exactly as
``import-labels`` checks a CSV row (:class:`autoal.annotation.batch_files.AnswerChecks`), good ones stored
one by one, bad ones reported by task; ``import_labelstudio`` does it for a JSON export.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from autoal.annotation.batch_files import AnswerChecks, ImportReport, waiting_round
from autoal.common.wording import plural
from autoal.errors import InputError, first_few
from autoal.labelstudio.tasks import FROM_NAME
from autoal.store.run_state import open_run

__all__ = ["import_labelstudio", "store_answers", "parse_user_map", "UserMatcher", "LabelStudioReport"]


@dataclass
class LabelStudioReport(ImportReport):
    """What :func:`import_labelstudio` did: labels stored, skips stored (``was_cancelled``), tasks without
    an answer, and rejected annotations ``(where, why)``."""

    skipped: int = 0
    tasks: int = 0
    by_annotator: dict = field(default_factory=dict)
    outcomes: list = field(default_factory=list)
    changed_after_pull: list = field(default_factory=list)
    deleted_after_pull: list = field(default_factory=list)

    def message(self) -> str:
        """What happened, one line, then the rejected annotations with their task and annotation ids, then the
        answers edited or deleted in Label Studio after they were pulled (kept as stored)."""
        who = ", ".join(f"{n}: {k}" for n, k in sorted(self.by_annotator.items()))
        text = (f"read {plural(self.tasks, 'task')}; stored {plural(self.stored, 'label')}" + (f" ({who})" if who else "")
                + f", {plural(self.skipped, 'skip')} (was_cancelled); {plural(self.blank, 'task')} without an answer")
        if self.rejected:
            text += (f"; rejected {plural(len(self.rejected), 'annotation')}:\n"
                     + "\n".join(f"  {where}: {why}" for where, why in self.rejected))
        return text + "".join(f"\n{line}" for line in self.after_pull_notes())

    def after_pull_notes(self) -> list:
        """A line each for answers edited, and answers deleted, in Label Studio after autoal stored them."""
        notes = []
        for ids, what in ((self.changed_after_pull, "edited"), (self.deleted_after_pull, "deleted")):
            if ids:
                notes.append(f"{plural(len(ids), 'answer')} {what} in Label Studio after autoal stored "
                             f"{'it' if len(ids) == 1 else 'them'} (annotations {first_few(ids, 10)}): autoal keeps "
                             "the answers it stored; an annotator changes theirs on autoal's own labelling page")
        return notes


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
