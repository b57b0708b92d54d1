"""Push a run's open batch into its Label Studio project, through the official ``label-studio-sdk``.

``push`` finds the run's project by its title (default ``autoal <run folder> <run id>``) or creates it
with autoal's labeling config, gives it a Local files storage over the run's images (so Label Studio
serves them; the storage is never synced, the tasks come from autoal) and one Data Manager tab per
annotator showing the tasks given to them (:mod:`autoal.labelstudio.project`), and imports the open batch's
tasks that the project does not hold yet: a task is one example in one round (``data.example_id``,
``data.autoal_round``), so pushing twice adds nothing. Image URLs are relative to Label Studio's local-files
document root, learnt from it (or ``--image-root``; :mod:`autoal.labelstudio.image_root`); ``push`` fetches one
task's image through Label Studio before it reports success, and a later push with another root corrects the URLs
of the tasks it made. The model's guess goes along only when asked (``predictions="new"|"all"``), as on autoal's
own page.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autoal.annotation.specs import answering_later
from autoal.errors import InputError
from autoal.labelstudio.image_root import check_image_loads, choose_root, document_root
from autoal.labelstudio.project import (
    connect,
    find_project,
    given_or_opened,
    image_storage,
    project_tasks,
    project_title,
    set_up_annotators,
    talking_to,
)
from autoal.labelstudio.tasks import batch_tasks, check_predictions, image_folder, image_root_of

__all__ = ["push", "PushReport"]


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


def push(run_dir, *, url, token, title=None, image_root=None, predictions="none", state=None, ls=None,
         project_id=None, check_image=None) -> PushReport:
    """Put the run's open batch into its Label Studio project (made when missing); see the module's docstring.

    Parameters
    ----------
    run_dir : path-like
        The run folder.
    url, token : str
        Label Studio's address and an API token.
    title : str, optional
        The project's title (default :func:`autoal.labelstudio.project.project_title`).
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
    check_image : bool, optional
        Fetch one task's image through Label Studio before importing (when there are tasks). Default: when the
        project is looked up here (no ``project_id``); the sync loop asks for it until one check has run.
    """
    check_predictions(predictions)
    state, owned = given_or_opened(run_dir, state)
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
            check_image = project_id is None if check_image is None else check_image
            project_id, title, created, root, studio_root = _project_and_root(ls, state, title, project_id, every,
                                                                              image_root)
            tasks, _ = batch_tasks(state, root=root, predictions=predictions)
            check = check_image_loads(ls, tasks[0], root, studio_root) if tasks and check_image else ""
            there = {(str(t["data"].get("example_id")), t["data"].get("autoal_round")): t
                     for t in project_tasks(ls, project_id)}
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
    root = choose_root(every, image_root, studio_root)
    if project is not None:
        image_storage(ls, project_id, image_folder(every))
        set_up_annotators(ls, project, answering_later(state.settings))
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
