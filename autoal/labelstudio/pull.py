"""Pull the answers given in a run's Label Studio project into the run, through the official ``label-studio-sdk``.

``pull`` reads every annotation of the project and stores it as :func:`autoal.labelstudio.answers.store_answers`
does for an exported file: users matched to annotators by email or an explicit map, each answer checked
as ``import-labels`` checks a row, ``was_cancelled`` stored as a skip. Annotations it has dealt with are
recorded in ``run.sqlite`` (table ``labelstudio_pulled``, :mod:`autoal.store.labelstudio_ledger`) and not
read again, so a later pull reports only what is new; an annotation from a user who matches no annotator
is left for a later pull (with ``--user EMAIL=NAME``). A rejected annotation (say, a class that is not in
the run) is read again once someone edits it in Label Studio (its version, a digest of its result, changed),
so a corrected answer is stored. An answer stored and then edited or deleted in Label Studio is not
changed in the run: autoal keeps what it stored, and the pull's report names those annotations.
"""

from __future__ import annotations

import hashlib
import json

from autoal.annotation.batch_files import AnswerChecks
from autoal.labelstudio.answers import LabelStudioReport, UserMatcher, parse_user_map, store_answers
from autoal.labelstudio.project import (
    connect,
    find_project,
    given_or_opened,
    project_tasks,
    project_title,
    studio_users,
    talking_to,
)
from autoal.store.labelstudio_ledger import PullLedger

__all__ = ["pull", "annotation_version"]


def annotation_version(annotation) -> str:
    """A digest of what a Label Studio annotation says (its result, and whether it was cancelled): it changes
    when someone edits the annotation, and only then."""
    said = json.dumps([annotation.get("result"), bool(annotation.get("was_cancelled"))], sort_keys=True, default=str)
    return hashlib.sha256(said.encode("utf-8")).hexdigest()[:16]


def pull(run_dir, *, url, token, title=None, users=None, annotator=None, state=None, ls=None,
         project_id=None) -> LabelStudioReport:
    """Store the answers given in the run's Label Studio project since the last pull; see the module's docstring.

    Parameters
    ----------
    run_dir : path-like
        The run folder.
    url, token, title :
        As for :func:`autoal.labelstudio.push.push`.
    users : str, dict or list, optional
        Label Studio users to annotators, beyond matching by email: ``{"alice@x.org": "alice"}``, entries
        ``"EMAIL_OR_ID=NAME"`` (a list or one comma-separated string), or a JSON file (:func:`autoal.labelstudio.answers.parse_user_map`).
    annotator : str, optional
        The one annotator who answered every task.
    state, ls, project_id : optional
        As for :func:`autoal.labelstudio.push.push`.

    Returns
    -------
    LabelStudioReport
        What was stored, skipped and rejected (rejections with their task and annotation ids).
    """
    mapping = parse_user_map(",".join(users) if isinstance(users, (list, tuple)) else users)
    state, owned = given_or_opened(run_dir, state)
    ledger = PullLedger(state.folder)
    try:
        matcher = UserMatcher(state.settings["annotator_names"], annotator, mapping, flag="--user")
        if annotator is not None:
            AnswerChecks(state, None).check_annotator(annotator)
        ls = ls or connect(url, token)
        with talking_to(url):
            if project_id is None:
                project_id = find_project(ls, title or project_title(state), state.classes, create=False)[0].id
            key = f"{str(url).rstrip('/')}/projects/{project_id}"
            recorded = ledger.pulled(key)
            tasks = project_tasks(ls, project_id, annotations=True)
            versions = {a.get("id"): annotation_version(a) for t in tasks for a in t["annotations"]}
            done = {a for a, (outcome, version) in recorded.items() if outcome != "rejected" or version == versions.get(a)}
            fresh = [a for t in tasks for a in t["annotations"] if a.get("id") not in done]
            people = studio_users(ls) if fresh else {}
        for task in tasks:
            for a in task["annotations"]:
                a["completed_by"] = people.get(a.get("completed_by"), a.get("completed_by"))

        def record(annotation, example_id, name, outcome):  # at once: a pull cut short keeps what it did
            if annotation is not None and outcome in ("stored", "skip", "rejected"):
                ledger.record(key, annotation, example_id, name, outcome, version=versions.get(annotation))

        report = store_answers(state, tasks, matcher, done=done, record=record)
        kept = {a: version for a, (outcome, version) in recorded.items() if outcome in ("stored", "skip")}
        report.changed_after_pull = sorted(a for a, v in kept.items() if v is not None and a in versions and versions[a] != v)
        report.deleted_after_pull = sorted(a for a in kept if a not in versions)
        return report
    finally:
        ledger.close()
        if owned:
            state.close()
