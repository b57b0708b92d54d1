"""Where Label Studio serves a run's images from: the local-files document root the tasks' image URLs are made
relative to, learnt from Label Studio (or given as ``--image-root``), and a check that one task's image loads
through Label Studio before a push reports success.
"""

from __future__ import annotations

from pathlib import Path

from autoal.errors import InputError
from autoal.labelstudio.tasks import image_folder, image_root_of

__all__ = ["document_root", "choose_root", "check_image_loads"]


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


def choose_root(every, image_root, studio_root) -> Path:
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
