"""Who may use each route of the labelling server: declared once, on its view (:func:`needs`), checked in one
place (:func:`check_request`, the app's ``before_request``).

>>> @blueprint.get("/api/queue")            # doctest: +SKIP
... @needs(access.ANNOTATOR)
... def api_queue(): ...

Every request needs a valid token, from the link's ``?token=`` or the cookie it is swapped for
(:mod:`autoal.server.signin`); anything without one gets 401 and a one-line text, nothing about the run.
A valid token of a role the route was not declared for gets 403. A route declared for
:data:`TOKEN_IN_FORM` (the sign-in form's) checks the token its form carries itself. A route that declares
nothing is open to no one, and :func:`~autoal.server.app.create_app` refuses to make an app that has one
(:func:`undeclared_endpoints`).
"""

from __future__ import annotations

import secrets

from flask import current_app, g, request

from autoal.server import access, current_run, signin
from autoal.server.labelling import Refused

__all__ = ["TOKEN_IN_FORM", "needs", "declared", "undeclared_endpoints", "check_request"]

#: Declares a route that needs no link before it runs: it checks the token given in its form (sign-in).
TOKEN_IN_FORM = "the token in its form"
EITHER = (access.ANNOTATOR, access.ORGANISER)  # in the order their cookies are tried
_ATTRIBUTE = "autoal_needs"  # where :func:`needs` keeps a view's declaration


def needs(*who):
    """Declare who may use a view: ``access.ANNOTATOR``, ``access.ORGANISER``, both, or :data:`TOKEN_IN_FORM`."""
    unknown = sorted(set(who) - {*EITHER, TOKEN_IN_FORM})
    if not who or unknown:
        raise ValueError(f"needs() takes {', '.join(map(repr, (*EITHER, TOKEN_IN_FORM)))}; got {who!r}")

    def declare(view):
        setattr(view, _ATTRIBUTE, frozenset(who))
        return view

    return declare


def declared(app, endpoint) -> frozenset | None:
    """Who the view of ``endpoint`` is declared for (:func:`needs`), or None when it declares nothing."""
    return getattr(app.view_functions.get(endpoint), _ATTRIBUTE, None)


def undeclared_endpoints(app) -> list:
    """The endpoints of ``app``'s routes whose view declares nothing (sorted; empty when every one does)."""
    return sorted({rule.endpoint for rule in app.url_map.iter_rules() if declared(app, rule.endpoint) is None})


def check_request():
    """Who this request comes from, and whether the route is declared for them: None to let it through, the
    answer to give instead (401, or the page asking who should label here), or Refused(403)."""
    g.nonce = secrets.token_urlsafe(16)
    if request.endpoint is None:
        allowed = frozenset(EITHER)  # no such route: a valid link of either kind gets the 404 (others the 401)
    else:
        allowed = declared(current_app, request.endpoint) or frozenset()  # declared for nothing: no one
    if TOKEN_IN_FORM in allowed:
        return None
    token, from_link = signin.presented_token([r for r in EITHER if r in allowed] or EITHER)
    db = current_run.desk().db
    who = access.identify(db, token) if token else None
    if who is None:
        return signin.unauthorised()
    if from_link:
        other = signin.other_person_signed_in(db, who)
        if other is not None:
            return signin.ask_who(other, who[1], token, g.nonce)
    signin.sign_in(who, token if from_link else None)
    if g.role == access.ANNOTATOR:
        current_run.note_seen(g.name)
    if g.role not in allowed:
        raise Refused(403, _refusal(allowed))
    return None


def _refusal(allowed) -> str:
    if not allowed:
        return "this route declares who may use it nowhere, so no one may"
    what = "the organiser's" if access.ORGANISER in allowed else "an annotator's"
    return f"this needs {what} link; yours is for the {g.role} page"
