"""The pictures both pages show: an example's image and the page's icon.

=====================================  ==========================================================
``GET /image/<example_id>``             an image, by example id (annotators: their examples only)
``GET /favicon.ico``                    the page's icon
=====================================  ==========================================================
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import quote

from flask import Blueprint, Response, g, send_file

from autoal.server import access, current_run
from autoal.server.labelling import Refused
from autoal.server.permissions import needs

__all__ = ["blueprint", "image_url"]

blueprint = Blueprint("images", __name__)
ICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" '
        'fill="#2f6fed"/><path d="M4 8.5l2.5 2.5L12 5" stroke="#fff" stroke-width="2" fill="none"/></svg>')


def image_url(example_id_text) -> str:
    """The address of an example's image (:func:`image`)."""
    return "/image/" + quote(example_id_text, safe="")


@blueprint.get("/image/<example_id>")
@needs(access.ANNOTATOR, access.ORGANISER)
def image(example_id):
    """An example's image file; an annotator gets only examples that are theirs (assigned, answered or skipped)."""
    facts = current_run.facts()
    position = facts.position(example_id)
    if g.role == access.ANNOTATOR and not current_run.desk().holds(g.name, position):
        raise Refused(403, "this example is not one of yours")
    path = Path(facts.image_paths[position])  # from the run's own table, never from the request
    if not path.is_file():
        raise Refused(404, "the image file of this example is missing on the server")
    response = send_file(path, mimetype=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
                         max_age=3600, conditional=True)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@blueprint.get("/favicon.ico")
@needs(access.ANNOTATOR, access.ORGANISER)
def favicon():
    """The page's icon (SVG)."""
    return Response(ICON, mimetype="image/svg+xml", headers={"Cache-Control": "private, max-age=86400"})
