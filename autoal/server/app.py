"""The labelling server's Flask app: the annotator's and the organiser's pages as blueprints, permissions
checked in one place.

Routes: :mod:`autoal.server.annotator_pages`, :mod:`autoal.server.organiser_pages` and the images both show
(:mod:`autoal.server.images`). Each view declares who may use it (:func:`autoal.server.permissions.needs`) and
the app checks it before every request (:func:`autoal.server.permissions.check_request`); an app with a
route that declares nothing is not made. Sign-in (a link's token swapped for a cookie) is
:mod:`autoal.server.signin`. Every answer carries headers that keep the pages out of frames, caches and
other sites' requests (:func:`_security_headers`); JSON bodies are checked by :mod:`autoal.server.json_body`.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, g, jsonify
from werkzeug.exceptions import HTTPException

from autoal.errors import InputError
from autoal.server import annotator_pages, current_run, images, organiser_pages, signin
from autoal.server.json_body import MAX_BODY
from autoal.server.labelling import Refused, RunFacts
from autoal.server.permissions import check_request, undeclared_endpoints

__all__ = ["create_app"]

BLUEPRINTS = (annotator_pages.blueprint, organiser_pages.blueprint, images.blueprint)


def create_app(facts: RunFacts, driver=None) -> Flask:
    """The Flask app serving the run described by ``facts``.

    Parameters
    ----------
    facts : RunFacts
        The run (its folder, classes, ids, image files).
    driver : RoundDriver, optional
        The background rounds; without one, answers are stored but nothing is trained ("train now" says so).
    """
    # no static folder: the pages carry their styles and scripts (and a static route would declare no permission)
    app = Flask(__name__, template_folder=str(Path(__file__).parent / "templates"), static_folder=None)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY, JSON_SORT_KEYS=False)
    current_run.attach(app, facts, driver)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.before_request(check_request)
    app.after_request(_security_headers)
    app.register_error_handler(Refused, _refused)
    app.register_error_handler(InputError, _input_error)
    app.register_error_handler(HTTPException, _http_error)
    undeclared = undeclared_endpoints(app)
    if undeclared:
        raise RuntimeError(f"routes that declare no permission (autoal.server.permissions.needs): {undeclared}")
    return app


def _security_headers(response):
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers.setdefault("Cache-Control", "no-store")
    nonce = g.get("nonce", "none")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; img-src 'self'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    signin.set_cookies(response)
    return response


def _refused(exc):
    return jsonify(error=str(exc)), exc.status


def _input_error(exc):
    return jsonify(error=str(exc)), 400


def _http_error(exc):
    if exc.code == 413:
        return jsonify(error=f"request body too large (at most {MAX_BODY} bytes)"), 413
    return jsonify(error=exc.description if exc.code != 404 else "not found"), exc.code
