"""The labelling server's routes (Flask), permissions checked in one place (:func:`_authenticate`).

Routes (every one needs a valid token, from the link's ``?token=`` or the cookie it is swapped for):

=====================================  ===========  ==========================================================
``GET /label``                          annotator    the labelling page
``GET /api/queue``                      annotator    current example, progress, recent answers (JSON)
``POST /api/answer``                    annotator    ``{"example_id", "label"}`` or ``{"example_id", "skip": true}``
``POST /api/edit``                      annotator    ``{"example_id", "label"}``: change a recent answer
``POST /api/undo``                      annotator    ``{}``: withdraw the latest answer, skip or edit
``GET /image/<example_id>``             both         an image, by example id (annotators: their examples only)
``GET /organiser``                      organiser    the organiser page
``GET /organiser/panel``                organiser    its live part (HTML, refreshed by the page)
``GET /organiser/labels.csv``           organiser    every annotation (also ``consensus.csv``, ``annotators.csv``)
``GET /api/status``                     organiser    round, phase, history, annotators (JSON)
``POST /api/train``                     organiser    ``{}``: train now on the answers given so far
``POST /api/settings``                  organiser    ``{"show_guess_new": bool, ...}``
``POST /api/annotators``                organiser    ``{"name"}``: a new annotator; answers their link, once
``POST /api/annotators/<name>/link``    organiser    ``{}``: a new link for an annotator (the old one stops working)
``POST /signin``                        (its token)  ``token=...`` (a form): sign this browser in as another annotator
``GET /favicon.ico``                    both         the page's icon
=====================================  ===========  ==========================================================

Anything without a valid token gets 401 and a one-line text, nothing about the run. The token is
never logged: waitress writes no access log, and nothing here prints a request's query string.

A link opened in a browser already signed in as another annotator does not sign that person out (a
page on another site could open anyone's link in it, and their next answers would be stored under the
wrong name): it asks which of the two should label here (:func:`_other_person_signed_in`), and only a
same-origin form (``POST /signin``) switches. Links the server hands out (a new annotator, a new link)
are built from the address it was told (``--url``) or its own listening address, never from the
request's ``Host`` header. JSON bodies are at most :data:`MAX_BODY` bytes and nested at most
:data:`MAX_JSON_DEPTH` levels.
"""

from __future__ import annotations

import html
import mimetypes
import secrets
import time
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response, g, jsonify, render_template, request, send_file
from werkzeug.exceptions import HTTPException
from werkzeug.utils import secure_filename

from autoal.errors import InputError
from autoal.server import access, figures
from autoal.server.labelling import Desks, Refused, RunFacts
from autoal.server.settings import get_settings, links_address, set_settings

__all__ = ["create_app", "COOKIES", "MAX_BODY", "MAX_JSON_DEPTH", "ROLE_OF", "SIGNED_IN", "json_depth"]

# One cookie per role, so that one browser can hold an annotator's page and the organiser's at once.
COOKIES = {access.ANNOTATOR: "autoal_annotator", access.ORGANISER: "autoal_organiser"}
#: The role each route needs (routes not listed, the images, take either).
ROLE_OF = {**dict.fromkeys(["label_page", "api_queue", "api_answer", "api_edit", "api_undo"], access.ANNOTATOR),
           **dict.fromkeys(["organiser_page", "organiser_panel", "download_csv", "api_status", "api_train",
                            "api_settings", "api_add_annotator", "api_new_link"], access.ORGANISER)}
MAX_BODY = 4096  # bytes; an answer is a few dozen
MAX_JSON_DEPTH = 2  # the API's bodies are flat objects; deeper nesting is refused before it is parsed
#: A cookie that only says which annotator this browser is signed in as (SameSite=Lax, so that a link opened
#: from another site shows it, unlike the token cookie, which is Strict): the cue to ask before switching.
SIGNED_IN = "autoal_signed_in"
COOKIE_DAYS = 30
TOUCH_EVERY = 20.0  # seconds between writes of an annotator's "last seen" (answers update it too)
ICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" '
        'fill="#2f6fed"/><path d="M4 8.5l2.5 2.5L12 5" stroke="#fff" stroke-width="2" fill="none"/></svg>')
FEW_HOLDOUT = 50  # holdout images below which the organiser page warns that the accuracy is a rough figure
UNAUTHORISED = "401 Unauthorized: open the personal link the organiser gave you.\n"


def create_app(facts: RunFacts, driver=None) -> Flask:
    """The Flask app serving the run described by ``facts``.

    Parameters
    ----------
    facts : RunFacts
        The run (its folder, classes, ids, image files).
    driver : RoundDriver, optional
        The background rounds; without one, answers are stored but nothing is trained ("train now" says so).
    """
    app = Flask(__name__, template_folder=str(Path(__file__).parent / "templates"))
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY, JSON_SORT_KEYS=False)
    desks = Desks(facts)
    app.extensions["autoal"] = {"facts": facts, "desks": desks, "driver": driver}

    def desk():
        return desks.get()

    touched: dict = {}

    def notify():
        if driver is not None:
            driver.notify()

    # -- permissions, in one place -----------------------------------------------------------------

    @app.before_request
    def _authenticate():
        g.nonce = secrets.token_urlsafe(16)
        if request.endpoint == "signin":
            return None  # its token comes in the form; checked there
        needed = ROLE_OF.get(request.endpoint)  # None: either role (images) or no such route
        from_query = request.args.get("token")
        if from_query is not None:
            token = from_query
        else:
            roles = [needed] if needed else [access.ANNOTATOR, access.ORGANISER]
            token = next((request.cookies[COOKIES[r]] for r in roles if COOKIES[r] in request.cookies), None)
        who = access.identify(desk().db, token) if token else None
        if who is None:
            return Response(UNAUTHORISED, status=401, mimetype="text/plain",
                            headers={"WWW-Authenticate": 'Bearer realm="autoal"'})
        if from_query is not None:
            other = _other_person_signed_in(desk().db, who)
            if other is not None:
                return _ask_who(other, who[1], from_query, g.nonce)
        g.role, g.name = who
        g.new_cookie = (COOKIES[g.role], token) if from_query is not None else None
        if g.role == access.ANNOTATOR:
            now = time.time()
            if now - touched.get(g.name, 0.0) > TOUCH_EVERY:  # a write per request would queue answers behind it
                touched[g.name] = now
                access.touch(desk().db, g.name, now)
        return None

    @app.after_request
    def _headers(response):
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers.setdefault("Cache-Control", "no-store")
        nonce = g.get("nonce", "none")
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; img-src 'self'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
            "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
        if g.get("new_cookie"):
            name, token = g.new_cookie
            response.set_cookie(name, token, max_age=COOKIE_DAYS * 86400, httponly=True, samesite="Strict",
                                secure=request.is_secure, path="/")
        if g.get("role") == access.ANNOTATOR and (g.get("new_cookie") or request.cookies.get(SIGNED_IN) != g.name):
            # also for a browser signed in before this marker existed, so that a link from another site asks there too
            response.set_cookie(SIGNED_IN, g.name, max_age=COOKIE_DAYS * 86400, httponly=True, samesite="Lax",
                                secure=request.is_secure, path="/")
        return response

    @app.post("/signin")
    def signin():
        """Sign this browser in as the holder of the form's token (from :func:`_ask_who`'s page): same origin only."""
        if not _same_origin():
            raise Refused(403, "sign in from the page this server showed, not from another site")
        token = request.form.get("token", "")
        who = access.identify(desk().db, token)
        if who is None or who[0] != access.ANNOTATOR:
            return Response(UNAUTHORISED, status=401, mimetype="text/plain")
        g.role, g.name, g.new_cookie = who[0], who[1], (COOKIES[who[0]], token)
        return Response(status=303, headers={"Location": "/label"})

    def need(role):
        if g.role != role:
            what = "the organiser's" if role == access.ORGANISER else "an annotator's"
            raise Refused(403, f"this needs {what} link; yours is for the {g.role} page")

    def body(*fields, optional=()):
        """The JSON object of a POST, with exactly the allowed fields (400/415 otherwise)."""
        if request.mimetype != "application/json":
            raise Refused(415, "send the body as JSON (Content-Type: application/json)")
        if json_depth(request.get_data(cache=True)) > MAX_JSON_DEPTH:
            raise Refused(400, f"the body is nested more than {MAX_JSON_DEPTH} levels deep; send a flat JSON object")
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise Refused(400, "the body must be a JSON object")
        unknown = sorted(set(data) - set(fields) - set(optional))
        if unknown:
            raise Refused(400, f"unknown field(s) {unknown}; allowed: {sorted(set(fields) | set(optional))}")
        missing = [f for f in fields if f not in data]
        if missing:
            raise Refused(400, f"missing field(s) {missing}")
        return data

    @app.errorhandler(Refused)
    def _refused(exc):
        return jsonify(error=str(exc)), exc.status

    @app.errorhandler(InputError)
    def _input_error(exc):
        return jsonify(error=str(exc)), 400

    @app.errorhandler(HTTPException)
    def _http_error(exc):
        if exc.code == 413:
            return jsonify(error=f"request body too large (at most {MAX_BODY} bytes)"), 413
        return jsonify(error=exc.description if exc.code != 404 else "not found"), exc.code

    # -- annotators --------------------------------------------------------------------------------

    def queue_state(name) -> dict:
        d = desk()
        queue = d.queue(name)
        settings = get_settings(d.db)
        item = None
        if queue:
            round_, position = queue[0]
            relabel = d.is_relabel(name, position)
            show = settings["show_guess_relabel"] if relabel else settings["show_guess_new"]
            item = {"example_id": facts.id_text[position], "image": _image_url(facts.id_text[position]),
                    "round": round_, "guess": d.guess(position) if show else None}
        status = driver.status() if driver is not None else {"phase": "labelling", "message": ""}
        if not queue:
            status = dict(status, progress=_progress_text(), new_annotator=d.progress(name)["round"] is None)
        return {"name": name, "item": item,
                "next_image": _image_url(facts.id_text[queue[1][1]]) if len(queue) > 1 else None,
                "left": len(queue), "progress": d.progress(name),
                "recent": [dict(r, image=_image_url(r["example_id"])) for r in d.recent(name)],
                "phase": status["phase"], "can_undo": d.can_undo(name),
                "message": _annotator_message(status) if not queue else ""}

    @app.get("/label")
    def label_page():
        need(access.ANNOTATOR)
        state = queue_state(g.name)
        return render_template("label.html", state=state, classes=facts.class_names, nonce=g.nonce)

    @app.get("/api/queue")
    def api_queue():
        need(access.ANNOTATOR)
        return jsonify(queue_state(g.name))

    @app.post("/api/answer")
    def api_answer():
        need(access.ANNOTATOR)
        data = body("example_id", optional=("label", "skip"))
        if data.get("skip") is True and "label" not in data:
            desk().skip(g.name, data["example_id"])
        elif "label" in data and "skip" not in data:
            desk().answer(g.name, data["example_id"], data["label"])
        else:
            raise Refused(400, 'send {"example_id", "label"} to answer or {"example_id", "skip": true} to skip')
        notify()
        return jsonify(queue_state(g.name))

    @app.post("/api/edit")
    def api_edit():
        need(access.ANNOTATOR)
        data = body("example_id", "label")
        desk().edit(g.name, data["example_id"], data["label"])
        notify()
        return jsonify(queue_state(g.name))

    @app.post("/api/undo")
    def api_undo():
        need(access.ANNOTATOR)
        body()
        undone = desk().undo(g.name)
        notify()
        return jsonify(dict(queue_state(g.name), undone=undone))

    @app.get("/image/<example_id>")
    def image(example_id):
        position = facts.position(example_id)
        if g.role == access.ANNOTATOR and not desk().holds(g.name, position):
            raise Refused(403, "this example is not one of yours")
        path = Path(facts.image_paths[position])  # from the run's own table, never from the request
        if not path.is_file():
            raise Refused(404, "the image file of this example is missing on the server")
        response = send_file(path, mimetype=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
                             max_age=3600, conditional=True)
        response.headers["Cache-Control"] = "private, max-age=3600"
        return response

    @app.get("/favicon.ico")
    def favicon():
        return Response(ICON, mimetype="image/svg+xml", headers={"Cache-Control": "private, max-age=86400"})

    # -- the organiser -----------------------------------------------------------------------------

    def status_state() -> dict:
        d = desk()
        status = driver.status() if driver is not None else {"phase": "no-driver", "round": None, "message":
                                                             "answers are stored; no rounds are trained"}
        history = figures.history(d)
        round_ = status.get("round")
        names = access.annotator_names(d.db)
        total, disagreeing = figures.disagreements(d)
        phase = status.get("phase")
        return {"status": status, "history": [_history_row(r) for r in history], "progress": _progress_text(),
                "can_train": driver is not None and phase in ("labelling", "error"),
                "annotators": figures.annotator_table(d, names),
                "pending": figures.pending(d, round_) if round_ is not None else {},
                "settings": get_settings(d.db), "classes": len(facts.classes), "examples": len(facts.ids),
                "holdout": facts.holdout_size, "few_holdout": FEW_HOLDOUT, "class_counts": figures.class_counts(d),
                "new_answers": figures.news(d),
                "disagreements": {"total": total, "shown": [dict(r, image=_image_url(r["example_id"])) for r in disagreeing]}}

    @app.get("/organiser")
    def organiser_page():
        need(access.ORGANISER)
        state = status_state()
        return render_template("organiser.html", s=state, curve=_curve_svg(state["history"]), nonce=g.nonce)

    @app.get("/organiser/panel")
    def organiser_panel():
        need(access.ORGANISER)
        state = status_state()
        return render_template("organiser_panel.html", s=state, curve=_curve_svg(state["history"]))

    @app.get("/organiser/<any(labels, consensus, annotators):what>.csv")
    def download_csv(what):
        need(access.ORGANISER)
        from autoal.results.export import csv_text

        text, _ = csv_text(facts.run_dir, what)
        name = f"{secure_filename(facts.run_dir.name) or 'run'}-{what}.csv"
        return Response(text, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.get("/api/status")
    def api_status():
        need(access.ORGANISER)
        return jsonify(status_state())

    @app.post("/api/train")
    def api_train():
        need(access.ORGANISER)
        body()
        if driver is None:
            raise Refused(409, "this server trains no rounds (started without a round driver)")
        accepted, message = driver.train_now(figures.news(desk()))
        if not accepted:
            raise Refused(409, message)
        return jsonify(message=message), 202

    @app.post("/api/settings")
    def api_settings():
        need(access.ORGANISER)
        data = body(optional=("show_guess_new", "show_guess_relabel", "reassign_after_minutes"))
        settings = set_settings(desk().db, **data)
        notify()
        return jsonify(settings=settings)

    @app.post("/api/annotators")
    def api_add_annotator():
        need(access.ORGANISER)
        name = body("name")["name"]
        access.check_name(name)
        access.add_annotator(facts.run_dir, name)
        token = access.issue_token(desk().db, access.ANNOTATOR, name)
        notify()
        return jsonify(name=name, link=access.link(_base_url(), access.ANNOTATOR, token)), 201

    @app.post("/api/annotators/<name>/link")
    def api_new_link(name):
        need(access.ORGANISER)
        body()
        if name not in access.annotator_names(desk().db):
            raise Refused(404, "no annotator of that name in this run")
        token = access.issue_token(desk().db, access.ANNOTATOR, name)
        return jsonify(name=name, link=access.link(_base_url(), access.ANNOTATOR, token))

    def _base_url():
        return links_address(desk().db, app.config.get("AUTOAL_OWN_URL"))

    return app


def json_depth(raw: bytes) -> int:
    """How deeply the JSON text ``raw`` nests arrays and objects (0 for a bare value), counted without parsing
    it (what is inside strings does not count), so that a deep body is refused before the parser recurses.

    Written here because the standard ``json`` module has no depth limit: it recurses once per level and a
    4 KiB body of brackets ends in RecursionError (a 500) instead of a refusal.
    """
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def _same_origin() -> bool:
    """Whether the browser says the request comes from this server's own pages (``Sec-Fetch-Site``, else the
    ``Origin`` against the request's own host: a page on another site cannot make a browser lie in either)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site == "same-origin"
    origin = request.headers.get("Origin")
    return origin is not None and urlsplit(origin).netloc == request.host


def _other_person_signed_in(db, who) -> str | None:
    """The annotator this browser is signed in as, when a token link for another annotator (``who``) arrives;
    None when nobody else is (or the link is the organiser's)."""
    role, name = who
    if role != access.ANNOTATOR:
        return None
    current = access.identify(db, request.cookies.get(COOKIES[access.ANNOTATOR], ""))
    if current is not None and current[0] == access.ANNOTATOR:
        return current[1] if current[1] != name else None
    marked = request.cookies.get(SIGNED_IN)  # the token cookie is not sent when the link came from another site
    return marked if marked and marked != name and access.NAME_PATTERN.fullmatch(marked) else None


def _ask_who(current, arriving, token, nonce) -> Response:
    """The page that asks whether ``arriving``'s link should sign out ``current`` in this browser (nothing changes
    until the person chooses)."""
    page = render_template("signin.html", current=current, arriving=arriving, token=token, nonce=nonce)
    return Response(page, status=200, mimetype="text/html", headers={"Cache-Control": "no-store"})


def _image_url(example_id_text) -> str:
    from urllib.parse import quote

    return "/image/" + quote(example_id_text, safe="")


def _progress_text() -> str:
    """The long step in progress in this process ("embedding images with ...: 1,234 of 3,000 images"), or ""."""
    from autoal.common.progress import current, describe

    return describe(current())


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


def _history_row(record) -> dict:
    keys = ("round", "n_labeled", "n_annotations", "n_new_labels", "n_relabels", "accuracy", "fit_seconds",
            "round_seconds", "consensus_method")
    return {k: record.get(k) for k in keys}


def _accuracy_range(values) -> tuple:
    """``(low, high)`` of the accuracy axis: the values' span padded by 0.01 and rounded out to 0.01, at least 0.05
    tall, within 0-1."""
    import math

    low = max(0.0, math.floor(round((min(values) - 0.01) * 100, 6)) / 100)
    high = min(1.0, math.ceil(round((max(values) + 0.01) * 100, 6)) / 100)
    if high - low < 0.05:
        low, high = (low, low + 0.05) if high - 0.05 < 0 else (high - 0.05, high)
    return low, high


def _curve_svg(history, width=420, height=200) -> str:
    """The learning curve (holdout accuracy against labelled examples) as inline SVG, or "".

    Axes: accuracy on the left, over the range the points span (rounded out to 0.01, at least 0.05 tall, within
    0-1: 0.85 -> 0.92 fills the plot instead of looking flat on 0-1), with its title; labelled examples below, one
    tick at each end of the range (one tick, centred, when every point has the same count).
    """
    points = [(r["n_labeled"], r["accuracy"]) for r in history
              if isinstance(r.get("accuracy"), (int, float)) and r["accuracy"] == r["accuracy"] and r.get("n_labeled") is not None]
    if not points:
        return ""
    left, right, top, bottom = 52, 16, 10, 40  # room for the axes' numbers and titles
    xs = [p[0] for p in points]
    lo, hi = min(xs), max(xs)

    def x(v):
        return left + (v - lo) / (hi - lo) * (width - left - right) if hi != lo else (left + width - right) / 2

    bottom_acc, top_acc = _accuracy_range([p[1] for p in points])

    def y(a):
        return top + (top_acc - a) / (top_acc - bottom_acc) * (height - top - bottom)

    line = " ".join(f"{x(n):.1f},{y(a):.1f}" for n, a in points)
    dots = "".join(f'<circle cx="{x(n):.1f}" cy="{y(a):.1f}" r="3"><title>{n} labelled: {a:.3f}</title></circle>'
                   for n, a in points)
    grid = "".join(f'<line x1="{left}" x2="{width - right}" y1="{y(t):.1f}" y2="{y(t):.1f}" class="grid"/>'
                   f'<text x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{t:.2f}</text>'
                   for t in (bottom_acc, (bottom_acc + top_acc) / 2, top_acc))
    ticks = "".join(f'<text class="xtick" x="{x(v):.1f}" y="{height - bottom + 16}" text-anchor="middle">{v}</text>'
                    for v in sorted({lo, hi}))
    middle_y = (top + height - bottom) / 2
    titles = (f'<text class="axis" x="{(left + width - right) / 2:.1f}" y="{height - 4}" text-anchor="middle">'
              f'labelled examples</text><text class="axis" x="12" y="{middle_y:.1f}" text-anchor="middle" '
              f'transform="rotate(-90 12 {middle_y:.1f})">holdout accuracy</text>')
    return (f'<svg viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{html.escape("holdout accuracy by labelled examples")}">{grid}{ticks}{titles}'
            f'<polyline points="{line}" class="curve"/>{dots}</svg>')
