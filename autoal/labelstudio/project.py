"""Label Studio's server and a run's project in it, through the official ``label-studio-sdk``.

:func:`connect` makes the SDK's client and :func:`talking_to` turns its HTTP and connection errors into InputErrors
that say what to do. A run's project is found by its title (default :func:`project_title`) or created with autoal's
labeling config (:func:`find_project`); it gets a Local files storage over the run's images (so Label Studio serves
them; the storage is never synced, the tasks come from autoal) and one Data Manager tab per annotator showing the
tasks given to them. :mod:`autoal.labelstudio.push` and :mod:`autoal.labelstudio.pull` use these.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from xml.etree import ElementTree

from autoal.errors import InputError, MissingDependencyError
from autoal.labelstudio.tasks import labeling_config
from autoal.store.run_state import open_run

__all__ = ["connect", "talking_to", "project_title", "find_project", "set_up_annotators", "image_storage",
           "project_tasks", "studio_users", "given_or_opened", "SDK_PIP", "PAGE_SIZE"]

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


def set_up_annotators(ls, project, names) -> None:
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


def image_storage(ls, project_id, folder):
    """The project's Local files storage over ``folder`` (created when missing; never synced)."""
    for storage in ls.import_storage.local.list(project=project_id):
        if storage.path and Path(storage.path) == folder:
            return storage
    return ls.import_storage.local.create(project=project_id, path=str(folder), use_blob_urls=True,
                                          title="autoal images", description="serves the run's images; not synced")


def project_tasks(ls, project_id, *, annotations=False) -> list:
    """Every task of the project as a dict (``id``, ``data`` and, with ``annotations``, its annotations)."""
    pager = ls.tasks.list(project=project_id, page_size=PAGE_SIZE, fields="all" if annotations else "task_only")
    return [{"id": t.id, "data": t.data or {}, "annotations": getattr(t, "annotations", None) or []} for t in pager]


def studio_users(ls) -> dict:
    """``{user id: {"id", "email"}}`` of the Label Studio server's users."""
    return {u.id: {"id": u.id, "email": u.email} for u in ls.users.list()}


def given_or_opened(run_dir, state):
    """``(state, owned)``: the given open state, or the run opened here (to be closed by the caller)."""
    return (state, False) if state is not None else (open_run(run_dir), True)
