"""A run and a running Label Studio, through the official ``label-studio-sdk``: push the open batch, pull the answers.

``push`` finds the run's project by its title (default ``autoal <run folder> <run id>``) or creates it
with autoal's labeling config, gives it a Local files storage over the run's images (so Label Studio
serves them; the storage is never synced, the tasks come from autoal) and one Data Manager tab per
annotator showing the tasks given to them, and imports the open batch's
tasks that the project does not hold yet: a task is one example in one round (``data.example_id``,
``data.autoal_round``), so pushing twice adds nothing. Image URLs are relative to Label Studio's local-files
document root, learnt from it (or ``--image-root``); ``push`` fetches one task's image through Label Studio
before it reports success, and a later push with another root corrects the URLs of the tasks it made. The model's guess goes along only when asked
(``predictions="new"|"all"``), as on autoal's own page.

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

import contextlib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from autoal.annotation.batch_files import AnswerChecks
from autoal.errors import InputError, MissingDependencyError
from autoal.labelstudio.answers import LabelStudioReport, UserMatcher, parse_user_map, store_answers
from autoal.labelstudio.tasks import batch_tasks, check_predictions, image_folder, image_root_of, labeling_config
from autoal.server import page_annotator_names
from autoal.store.labelstudio_ledger import PullLedger
from autoal.store.run_state import open_run

__all__ = ["connect", "push", "pull", "PushReport", "project_title", "annotation_version", "SDK_PIP"]

SDK_PIP = "pip install 'label-studio-sdk>=2.1.2,<2.2'"
PAGE_SIZE = 500


def connect(url, token):
    """A ``label_studio_sdk.LabelStudio`` client for ``url`` with ``token`` (an access token or a legacy token)."""
    try:
        from label_studio_sdk import LabelStudio
    except ImportError:
        raise MissingDependencyError("`autoal labelstudio` talks to Label Studio through its SDK, which is not "
                                     f"installed: {SDK_PIP} (or pip install 'autoal[labelstudio]')") from None
    if not url or not str(url).startswith(("http://", "https://")):
        raise InputError(f"--url must be Label Studio's address such as http://localhost:8080, got {url!r}")
    if not token:
        raise InputError("Label Studio needs an API token: pass --token (or set LABEL_STUDIO_API_KEY); it is under "
                         "Account & Settings > Personal Access Token in Label Studio")
    return LabelStudio(base_url=str(url).rstrip("/"), api_key=token, timeout=120)


@contextlib.contextmanager
def talking_to(url):
    """Turn the SDK's HTTP and connection errors into InputErrors that say what to do."""
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    try:
        yield
    except ApiError as exc:
        body = str(exc.body)[:300]
        if exc.status_code == 401:
            raise InputError(f"Label Studio at {url} refused the token (401: {body}); pass --token with an access "
                             "token from Account & Settings (a legacy token works only where the organisation allows "
                             "legacy tokens)") from None
        raise InputError(f"Label Studio at {url} answered {exc.status_code}: {body}") from None
    except httpx.TransportError as exc:
        raise InputError(f"cannot reach Label Studio at {url} ({type(exc).__name__}: {exc}); is it running, and is "
                         "--url its address?") from None


def project_title(state) -> str:
    """The default project title of a run: ``autoal <run folder> <first 8 characters of the run id>``."""
    return f"autoal {Path(state.folder).resolve().name} {state.store.run_id[:8]}"


def _choices(config) -> list:
    try:
        return [c.get("value") for c in ElementTree.fromstring(config or "<View/>").iter("Choice")]
    except ElementTree.ParseError:
        return []


def find_project(ls, title, classes, *, create=True):
    """The project titled ``title`` (created with autoal's labeling config when missing and ``create``) and
    whether it was created; an InputError when a project of that title asks for other classes."""
    matches = [p for p in ls.projects.list(page_size=PAGE_SIZE) if p.title == title]
    if len(matches) > 1:
        raise InputError(f"Label Studio has {len(matches)} projects titled {title!r} (ids "
                         f"{[p.id for p in matches]}); rename all but one, or pass --title for another")
    if matches:
        project = ls.projects.get(id=matches[0].id)
        if sorted(_choices(project.label_config)) != sorted(map(str, classes)):
            raise InputError(f"Label Studio project {title!r} (id {project.id}) offers the choices "
                             f"{_choices(project.label_config)}, not this run's classes {list(map(str, classes))}; "
                             "pass --title for a new project")
        return project, False
    if not create:
        raise InputError(f"Label Studio has no project titled {title!r}; `autoal labelstudio push RUN_DIR` creates it "
                         "(pass the same --title to push and pull)")
    project = ls.projects.create(title=title, label_config=labeling_config(classes),
                                 description="Active learning with autoal: tasks come from `autoal labelstudio push`, "
                                 "answers go back with `autoal labelstudio pull` (or sync).")
    return project, True


def _people(ls, project, names) -> None:
    """One Data Manager tab per annotator, showing only the tasks given to them (Label Studio's community
    edition has no task assignment; "Label All Tasks" in a tab follows its filter), and room on each task
    for every person it is given to (``maximum_annotations``)."""
    if (project.maximum_annotations or 1) < len(names):
        ls.projects.update(id=project.id, maximum_annotations=len(names))
    tabs = {(v.data or {}).get("title") for v in ls.views.list(project=project.id)}
    for name in names:
        if name not in tabs:
            ls.views.create(project=project.id, data={"title": name, "filters": {"conjunction": "and", "items": [
                {"filter": "filter:tasks:data.autoal_annotators", "operator": "contains", "type": "String",
                 "value": name}]}})


def _storage(ls, project_id, folder):
    """The project's Local files storage over ``folder`` (created when missing; never synced)."""
    for storage in ls.import_storage.local.list(project=project_id):
        if storage.path and Path(storage.path) == folder:
            return storage
    return ls.import_storage.local.create(project=project_id, path=str(folder), use_blob_urls=True,
                                          title="autoal images", description="serves the run's images; not synced")


def _tasks(ls, project_id, *, annotations=False) -> list:
    """Every task of the project as a dict (``id``, ``data`` and, with ``annotations``, its annotations)."""
    pager = ls.tasks.list(project=project_id, page_size=PAGE_SIZE, fields="all" if annotations else "task_only")
    return [{"id": t.id, "data": t.data or {}, "annotations": getattr(t, "annotations", None) or []} for t in pager]


@dataclass
class PushReport:
    """What :func:`push` did: the project (``project_id``, ``title``, ``created``), the tasks it imported
    (``pushed``) and those already there (``present``; ``updated`` of them got new image URLs), the rounds pushed,
    and how one task's image loaded through Label Studio (``image_check``)."""

    url: str
    project_id: int
    title: str
    created: bool
    pushed: int
    present: int
    rounds: list
    updated: int = 0
    image_check: str = ""

    def message(self) -> str:
        made = "created" if self.created else "found"
        rounds = ", ".join(map(str, self.rounds)) or "-"
        updated = f" ({self.updated} of them with new image URLs)" if self.updated else ""
        check = f"; {self.image_check}" if self.image_check else ""
        return (f"Label Studio project {self.title!r} ({made}, id {self.project_id}): pushed {self.pushed} tasks "
                f"(rounds {rounds}), {self.present} were there already{updated}{check}; label at "
                f"{self.url}/projects/{self.project_id}")


def document_root(ls, project_id) -> Path | None:
    """Label Studio's ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``, or None when it cannot be learnt.

    Label Studio has no call that tells it; validating a Local files storage at the file system's root makes it
    refuse with a message naming its document root (``must be a subdirectory of
    LOCAL_FILES_DOCUMENT_ROOT="..."``). Nothing is created.
    """
    import re

    from label_studio_sdk.core.api_error import ApiError

    try:
        ls.import_storage.local.validate(project=project_id, path=Path("/").anchor or "/")
    except ApiError as exc:
        found = re.search(r'LOCAL_FILES_DOCUMENT_ROOT="([^"]+)"', str(exc.body))
        return Path(found.group(1)) if found else None
    return None


def _choose_root(every, image_root, studio_root) -> Path:
    """The document root the tasks' image URLs are made relative to: ``image_root`` when given (an InputError naming
    both when Label Studio's own root is known to differ); else Label Studio's root when the images' folder is below
    it; else the folder above the images' folder."""
    folder = image_folder(every)
    if image_root is not None:
        root = image_root_of(every, image_root)
        if studio_root is not None and root != studio_root.resolve():
            raise InputError(_wrong_root(root, studio_root, given=True))
        return root
    if studio_root is not None and folder.is_relative_to(studio_root.resolve()) and folder != studio_root.resolve():
        return studio_root.resolve()
    return image_root_of(every, None)


def _wrong_root(root, studio_root, *, given) -> str:
    which = "--image-root" if given else "the default --image-root (the folder above the images' folder)"
    theirs = (f"Label Studio's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT is {studio_root}" if studio_root is not None
              else "Label Studio serves local files from its LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT, another folder")
    fix = f"--image-root {studio_root}" if studio_root is not None else "--image-root THAT_FOLDER"
    return (f"the images' URLs would be relative to {root} ({which}), but {theirs}, so every image would fail to load "
            f"in Label Studio. Push again with {fix} (tasks pushed before get their URLs corrected), or restart Label "
            f"Studio with LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={root}")


def check_image_loads(ls, task, root, studio_root) -> str:
    """Fetch one task's image through Label Studio as the annotators' browsers will; an InputError naming both
    document roots when it does not load, else a few words on what was checked."""
    image = task["data"]["image"]
    # the SDK has no call that fetches a task's data URL; its client carries the authentication (a personal access
    # token is exchanged for a short-lived one there)
    response = ls._client_wrapper.httpx_client.request(image, method="GET")
    if response.status_code == 200:
        return "an image loads through Label Studio"
    if response.status_code in (401, 403):
        return (f"could not fetch an image through Label Studio to check it (HTTP {response.status_code}: this token "
                "may not read files); its document root matches")
    raise InputError(f"Label Studio could not load the image of example {task['data']['example_id']} "
                     f"(HTTP {response.status_code} for {image}): " + _wrong_root(root, studio_root, given=False))


def _run(run_dir, state):
    """``(state, owned)``: the given open state, or the run opened here (to be closed by the caller)."""
    return (state, False) if state is not None else (open_run(run_dir), True)


def push(run_dir, *, url, token, title=None, image_root=None, predictions="none", state=None, ls=None,
         project_id=None) -> PushReport:
    """Put the run's open batch into its Label Studio project (made when missing); see the module's docstring.

    Parameters
    ----------
    run_dir : path-like
        The run folder.
    url, token : str
        Label Studio's address and an API token.
    title : str, optional
        The project's title (default :func:`project_title`).
    image_root : path-like, optional
        Label Studio's ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT`` (default: Label Studio's own, learnt through its
        API, when the images are below it; else the folder above the deepest folder holding every image of the
        run); the images' folder must be below it. Tasks pushed before with other image URLs get these (a push
        with a corrected root mends them). Before anything is imported, one task's image is fetched through Label
        Studio: when it does not load, an InputError names both roots.
    predictions : {"none", "new", "all"}
        Which tasks carry the model's guess (default none).
    state, ls : optional
        An open run state and SDK client to use (the sync loop's); opened here otherwise.
    project_id : int, optional
        The project, known to exist with its storage (the sync loop's, after its first push): not looked up.
    """
    check_predictions(predictions)
    state, owned = _run(run_dir, state)
    try:
        every = [Path(p) for p in state.data.frame[state.settings["image_col"]].to_numpy()] \
            if state.settings.get("image_col") else []
        if not every:
            raise InputError("this run has no images; Label Studio's image labeling needs them (use `autoal "
                             "export-batch` and `autoal import-labels` for tables)")
        folder = image_folder(every)
        if image_root is not None and folder == image_root_of(every, image_root):
            root = image_root_of(every, image_root)
            raise InputError(f"--image-root {str(root)!r} is the folder holding the images itself; Label Studio serves "
                             "local files only from a storage below its LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT: start it "
                             f"with LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={root.parent} and pass that as --image-root")
        ls = ls or connect(url, token)
        with talking_to(url):
            checked = project_id is not None  # the sync loop's later pushes: checked on its first
            project_id, title, created, root, studio_root = _project_and_root(ls, state, title, project_id, every,
                                                                              image_root)
            tasks, _ = batch_tasks(state, root=root, predictions=predictions)
            check = check_image_loads(ls, tasks[0], root, studio_root) if tasks and not checked else ""
            there = {(str(t["data"].get("example_id")), t["data"].get("autoal_round")): t for t in _tasks(ls, project_id)}
            new = [t for t in tasks if (t["data"]["example_id"], t["data"]["autoal_round"]) not in there]
            updated = _update_images(ls, tasks, there)
            if new:
                ls.projects.import_tasks(id=project_id, request=new, return_task_ids=True)
        return PushReport(str(url).rstrip("/"), project_id, title, created, len(new), len(tasks) - len(new),
                          sorted({t["data"]["autoal_round"] for t in new}), updated, check)
    finally:
        if owned:
            state.close()


def _project_and_root(ls, state, title, project_id, every, image_root) -> tuple:
    """``(project id, title, created, root, Label Studio's root)``: the project (found or made, with its storage and
    tabs, unless ``project_id`` is known) and the document root the image URLs are made relative to."""
    project, created = None, False
    if project_id is None:
        project, created = find_project(ls, title or project_title(state), state.classes)
        project_id, title = project.id, project.title
    studio_root = document_root(ls, project_id)
    root = _choose_root(every, image_root, studio_root)
    if project is not None:
        _storage(ls, project_id, image_folder(every))
        _people(ls, project, page_annotator_names(state.settings))
    return project_id, title or project_title(state), created, root, studio_root


def _update_images(ls, tasks, there) -> int:
    """Give tasks pushed before (``there``: by example id and round) the image URLs of ``tasks`` where they differ
    (a push with a corrected ``--image-root``); returns how many were changed."""
    changed = 0
    for task in tasks:
        old = there.get((task["data"]["example_id"], task["data"]["autoal_round"]))
        if old is not None and old["data"].get("image") != task["data"]["image"]:
            ls.tasks.update(id=str(old["id"]), data=dict(old["data"], image=task["data"]["image"]))
            changed += 1
    return changed


def _users(ls) -> dict:
    """``{user id: {"id", "email"}}`` of the Label Studio server's users."""
    return {u.id: {"id": u.id, "email": u.email} for u in ls.users.list()}


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
        As for :func:`push`.
    users : str, dict or list, optional
        Label Studio users to annotators, beyond matching by email: ``{"alice@x.org": "alice"}``, entries
        ``"EMAIL_OR_ID=NAME"`` (a list or one comma-separated string), or a JSON file (:func:`autoal.labelstudio.answers.parse_user_map`).
    annotator : str, optional
        The one annotator who answered every task.
    state, ls, project_id : optional
        As for :func:`push`.

    Returns
    -------
    LabelStudioReport
        What was stored, skipped and rejected (rejections with their task and annotation ids).
    """
    mapping = parse_user_map(",".join(users) if isinstance(users, (list, tuple)) else users)
    state, owned = _run(run_dir, state)
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
            tasks = _tasks(ls, project_id, annotations=True)
            versions = {a.get("id"): annotation_version(a) for t in tasks for a in t["annotations"]}
            done = {a for a, (outcome, version) in recorded.items() if outcome != "rejected" or version == versions.get(a)}
            fresh = [a for t in tasks for a in t["annotations"] if a.get("id") not in done]
            people = _users(ls) if fresh else {}
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
