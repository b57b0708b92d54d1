"""The annotator's page and its API (a Flask blueprint); every route needs an annotator's link but sign-in.

=====================================  ==========================================================
``GET /label``                          the labelling page
``GET /api/queue``                      current example, progress, recent answers (JSON)
``POST /api/answer``                    ``{"example_id", "label"}`` or ``{"example_id", "skip": true}``
``POST /api/edit``                      ``{"example_id", "label"}``: change a recent answer
``POST /api/undo``                      ``{}``: withdraw the latest answer, skip or edit
``POST /signin``                        ``token=...`` (a form): sign this browser in as another annotator
=====================================  ==========================================================
"""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, render_template, request

from autoal.server import access, current_run, signin
from autoal.server.images import image_url
from autoal.server.json_body import json_body
from autoal.server.labelling import Refused
from autoal.server.permissions import TOKEN_IN_FORM, needs
from autoal.server.settings import get_settings

__all__ = ["blueprint", "queue_state"]

blueprint = Blueprint("annotator", __name__)


def queue_state(name) -> dict:
    """What the page shows ``name``: the example to label (with the model's guess where the settings show it),
    the next image, progress, recent answers, and a message when there is nothing to label."""
    desk, facts, driver = current_run.desk(), current_run.facts(), current_run.driver()
    queue, progress = desk.queue(name), desk.progress(name)
    item = None
    if queue:
        round_, position = queue[0]
        settings = get_settings(desk.db)
        show = settings["show_guess_relabel"] if desk.is_relabel(name, position) else settings["show_guess_new"]
        item = {"example_id": facts.id_text[position], "image": image_url(facts.id_text[position]),
                "round": round_, "guess": desk.guess(position) if show else None}
    status = driver.status() if driver is not None else {"phase": "labelling", "message": ""}
    if not queue:
        status = dict(status, progress=current_run.progress_text(), new_annotator=progress["round"] is None)
    return {"name": name, "item": item,
            "next_image": image_url(facts.id_text[queue[1][1]]) if len(queue) > 1 else None,
            "left": len(queue), "progress": progress,
            "recent": [dict(r, image=image_url(r["example_id"])) for r in desk.recent(name)],
            "phase": status["phase"], "can_undo": desk.can_undo(name),
            "message": _annotator_message(status) if not queue else ""}


@blueprint.get("/label")
@needs(access.ANNOTATOR)
def label_page():
    """The labelling page."""
    state = queue_state(g.name)
    return render_template("label.html", state=state, classes=current_run.facts().class_names, nonce=g.nonce)


@blueprint.get("/api/queue")
@needs(access.ANNOTATOR)
def api_queue():
    """:func:`queue_state` as JSON."""
    return jsonify(queue_state(g.name))


@blueprint.post("/api/answer")
@needs(access.ANNOTATOR)
def api_answer():
    """Answer (``label``) or skip (``skip: true``) one of this annotator's open examples."""
    data = json_body("example_id", optional=("label", "skip"))
    if data.get("skip") is True and "label" not in data:
        current_run.desk().skip(g.name, data["example_id"])
    elif "label" in data and "skip" not in data:
        current_run.desk().answer(g.name, data["example_id"], data["label"])
    else:
        raise Refused(400, 'send {"example_id", "label"} to answer or {"example_id", "skip": true} to skip')
    current_run.notify()
    return jsonify(queue_state(g.name))


@blueprint.post("/api/edit")
@needs(access.ANNOTATOR)
def api_edit():
    """Change this annotator's answer to an example they answered or skipped."""
    data = json_body("example_id", "label")
    current_run.desk().edit(g.name, data["example_id"], data["label"])
    current_run.notify()
    return jsonify(queue_state(g.name))


@blueprint.post("/api/undo")
@needs(access.ANNOTATOR)
def api_undo():
    """Withdraw this annotator's latest answer, skip or edit."""
    json_body()
    undone = current_run.desk().undo(g.name)
    current_run.notify()
    return jsonify(dict(queue_state(g.name), undone=undone))


@blueprint.post("/signin")
@needs(TOKEN_IN_FORM)
def signin_form():
    """Sign this browser in as the holder of the form's token (from :func:`autoal.server.signin.ask_who`'s page):
    same origin only."""
    if not signin.same_origin():
        raise Refused(403, "sign in from the page this server showed, not from another site")
    token = request.form.get("token", "")
    who = access.identify(current_run.desk().db, token)
    if who is None or who[0] != access.ANNOTATOR:
        return signin.unauthorised(challenge=False)
    signin.sign_in(who, token)
    return Response(status=303, headers={"Location": "/label"})


def _annotator_message(status) -> str:
    phase = status.get("phase")
    progress = f" Now: {status['progress']}." if status.get("progress") else ""
    if phase == "stopped":
        return f"The run has finished ({status.get('stop_reason')}). Thank you!"
    if phase in ("training", "selecting"):
        return (f"Nothing to label right now: the model is {phase} (round {status.get('round')}).{progress} New examples "
                "appear here by themselves.")
    if phase == "error":
        return "Nothing to label right now; the organiser has been told of a problem."
    if status.get("new_annotator"):
        return ("Welcome! You have no examples yet: you get your first ones when the next batch is picked (after the "
                "current round is trained). They appear here by themselves.")
    return "Nothing to label right now: your examples are done. New ones appear here when the next batch is picked."
