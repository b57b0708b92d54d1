"""The organiser's page and its API (a Flask blueprint); every route needs the organiser's link.

=====================================  ==========================================================
``GET /organiser``                      the organiser page
``GET /organiser/panel``                its live part (HTML, refreshed by the page)
``GET /organiser/labels.csv``           every annotation (also ``consensus.csv``, ``annotators.csv``)
``GET /api/status``                     round, phase, history, annotators (JSON)
``POST /api/train``                     ``{}``: train now on the answers given so far
``POST /api/settings``                  ``{"show_guess_new": bool, ...}``
``POST /api/annotators``                ``{"name"}``: a new annotator; answers their link, once
``POST /api/annotators/<name>/link``    ``{}``: a new link for an annotator (the old one stops working)
=====================================  ==========================================================

Links the server hands out (a new annotator, a new link) are built from the address it was told
(``--url``) or its own listening address, never from the request's ``Host`` header.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify, render_template
from werkzeug.utils import secure_filename

from autoal.server import access, current_run, figures
from autoal.server.curve import curve_svg
from autoal.server.images import image_url
from autoal.server.json_body import json_body
from autoal.server.labelling import Refused
from autoal.server.permissions import needs
from autoal.server.settings import get_settings, links_address, set_settings

__all__ = ["blueprint", "status_state"]

blueprint = Blueprint("organiser", __name__)
FEW_HOLDOUT = 50  # holdout images below which the organiser page warns that the accuracy is a rough figure


def status_state() -> dict:
    """What the organiser page shows: the driver's status, the rounds' history, the annotators, per-class
    counts, disagreements, answers since the last training and the settings."""
    desk, facts, driver = current_run.desk(), current_run.facts(), current_run.driver()
    status = driver.status() if driver is not None else {"phase": "no-driver", "round": None, "message":
                                                         "answers are stored; no rounds are trained"}
    history = figures.history(desk)
    round_ = status.get("round")
    names = access.annotator_names(desk.db)
    total, disagreeing = figures.disagreements(desk)
    phase = status.get("phase")
    return {"status": status, "history": [_history_row(r) for r in history], "progress": current_run.progress_text(),
            "can_train": driver is not None and phase in ("labelling", "error"),
            "annotators": figures.annotator_table(desk, names),
            "pending": figures.pending(desk, round_) if round_ is not None else {},
            "settings": get_settings(desk.db), "classes": len(facts.classes), "examples": len(facts.ids),
            "holdout": facts.holdout_size, "few_holdout": FEW_HOLDOUT, "class_counts": figures.class_counts(desk),
            "new_answers": figures.news(desk),
            "disagreements": {"total": total, "shown": [dict(r, image=image_url(r["example_id"])) for r in disagreeing]}}


@blueprint.get("/organiser")
@needs(access.ORGANISER)
def organiser_page():
    """The organiser page."""
    state = status_state()
    return render_template("organiser.html", s=state, curve=curve_svg(state["history"]), nonce=g.nonce)


@blueprint.get("/organiser/panel")
@needs(access.ORGANISER)
def organiser_panel():
    """The page's live part, refreshed by the page."""
    state = status_state()
    return render_template("organiser_panel.html", s=state, curve=curve_svg(state["history"]))


@blueprint.get("/organiser/<any(labels, consensus, annotators):what>.csv")
@needs(access.ORGANISER)
def download_csv(what):
    """Every annotation, the consensus labels or the annotators' figures, as a CSV download."""
    from autoal.results.export import csv_text

    run_dir = current_run.facts().run_dir
    text, _ = csv_text(run_dir, what)
    name = f"{secure_filename(run_dir.name) or 'run'}-{what}.csv"
    return Response(text, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})


@blueprint.get("/api/status")
@needs(access.ORGANISER)
def api_status():
    """:func:`status_state` as JSON."""
    return jsonify(status_state())


@blueprint.post("/api/train")
@needs(access.ORGANISER)
def api_train():
    """Train now on the answers given so far (202), or 409 saying why not."""
    json_body()
    driver = current_run.driver()
    if driver is None:
        raise Refused(409, "this server trains no rounds (started without a round driver)")
    accepted, message = driver.train_now(figures.news(current_run.desk()))
    if not accepted:
        raise Refused(409, message)
    return jsonify(message=message), 202


@blueprint.post("/api/settings")
@needs(access.ORGANISER)
def api_settings():
    """Change some of the server's settings; answers them all."""
    data = json_body(optional=("show_guess_new", "show_guess_relabel", "reassign_after_minutes"))
    settings = set_settings(current_run.desk().db, **data)
    current_run.notify()
    return jsonify(settings=settings)


@blueprint.post("/api/annotators")
@needs(access.ORGANISER)
def api_add_annotator():
    """Add an annotator to the run; answers their link (201), the only time it is shown."""
    name = json_body("name")["name"]
    access.check_name(name)
    access.add_annotator(current_run.facts().run_dir, name)
    token = access.issue_token(current_run.desk().db, access.ANNOTATOR, name)
    current_run.notify()
    return jsonify(name=name, link=access.link(_links_base(), access.ANNOTATOR, token)), 201


@blueprint.post("/api/annotators/<name>/link")
@needs(access.ORGANISER)
def api_new_link(name):
    """A new link for an annotator; their old one stops working."""
    json_body()
    db = current_run.desk().db
    if name not in access.annotator_names(db):
        raise Refused(404, "no annotator of that name in this run")
    token = access.issue_token(db, access.ANNOTATOR, name)
    return jsonify(name=name, link=access.link(_links_base(), access.ANNOTATOR, token))


def _links_base() -> str:
    return links_address(current_run.desk().db, current_app.config.get("AUTOAL_OWN_URL"))


def _history_row(record) -> dict:
    keys = ("round", "n_labeled", "n_annotations", "n_new_labels", "n_relabels", "accuracy", "fit_seconds",
            "round_seconds", "consensus_method")
    return {k: record.get(k) for k in keys}
