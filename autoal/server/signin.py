"""How a browser is signed in to the labelling server: a personal link's token, swapped for a cookie.

A link carries its token in the query (``?token=``); the first request with it sets the role's cookie
(one per role, :data:`COOKIES`, so that one browser can hold an annotator's page and the organiser's at
once) and later requests send the cookie. The token is never logged: waitress writes no access log, and
nothing here prints a request's query string.

A link opened in a browser already signed in as another annotator does not sign that person out (a
page on another site could open anyone's link in it, and their next answers would be stored under the
wrong name): it asks which of the two should label here (:func:`ask_who`), and only a same-origin form
(``POST /signin``, :func:`same_origin`) switches.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Response, g, render_template, request

from autoal.server import access

__all__ = ["COOKIES", "SIGNED_IN", "UNAUTHORISED", "unauthorised", "presented_token", "sign_in",
           "other_person_signed_in", "ask_who", "same_origin", "set_cookies"]

# One cookie per role, so that one browser can hold an annotator's page and the organiser's at once.
COOKIES = {access.ANNOTATOR: "autoal_annotator", access.ORGANISER: "autoal_organiser"}
#: A cookie that only says which annotator this browser is signed in as (SameSite=Lax, so that a link opened
#: from another site shows it, unlike the token cookie, which is Strict): the cue to ask before switching.
SIGNED_IN = "autoal_signed_in"
COOKIE_DAYS = 30
UNAUTHORISED = "401 Unauthorized: open the personal link the organiser gave you.\n"


def unauthorised(challenge=True) -> Response:
    """The 401 answer: one line of text, nothing about the run (with a ``WWW-Authenticate`` header unless
    ``challenge`` is false)."""
    headers = {"WWW-Authenticate": 'Bearer realm="autoal"'} if challenge else None
    return Response(UNAUTHORISED, status=401, mimetype="text/plain", headers=headers)


def presented_token(roles) -> tuple:
    """``(token, from_link)``: the token of the link (``?token=``) when there is one, else the cookie of the first
    of ``roles`` the browser sent (None when it sent none)."""
    from_link = request.args.get("token")
    if from_link is not None:
        return from_link, True
    return next((request.cookies[COOKIES[r]] for r in roles if COOKIES[r] in request.cookies), None), False


def sign_in(who, link_token=None) -> None:
    """Serve this request as ``who`` (``(role, name)``); with ``link_token``, the answer sets the role's cookie to it."""
    g.role, g.name = who
    g.new_cookie = (COOKIES[g.role], link_token) if link_token is not None else None


def other_person_signed_in(db, who) -> str | None:
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


def ask_who(current, arriving, token, nonce) -> Response:
    """The page that asks whether ``arriving``'s link should sign out ``current`` in this browser (nothing changes
    until the person chooses)."""
    page = render_template("signin.html", current=current, arriving=arriving, token=token, nonce=nonce)
    return Response(page, status=200, mimetype="text/html", headers={"Cache-Control": "no-store"})


def same_origin() -> bool:
    """Whether the browser says the request comes from this server's own pages (``Sec-Fetch-Site``, else the
    ``Origin`` against the request's own host: a page on another site cannot make a browser lie in either)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site == "same-origin"
    origin = request.headers.get("Origin")
    return origin is not None and urlsplit(origin).netloc == request.host


def set_cookies(response) -> None:
    """Set the cookies :func:`sign_in` asked for, and the marker of which annotator this browser is signed in as."""
    if g.get("new_cookie"):
        name, token = g.new_cookie
        response.set_cookie(name, token, max_age=COOKIE_DAYS * 86400, httponly=True, samesite="Strict",
                            secure=request.is_secure, path="/")
    if g.get("role") == access.ANNOTATOR and (g.get("new_cookie") or request.cookies.get(SIGNED_IN) != g.name):
        # also for a browser signed in before this marker existed, so that a link from another site asks there too
        response.set_cookie(SIGNED_IN, g.name, max_age=COOKIE_DAYS * 86400, httponly=True, samesite="Lax",
                            secure=request.is_secure, path="/")
