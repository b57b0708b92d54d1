"""The JSON bodies the labelling server's API accepts: small flat objects with exactly the fields a route allows.

A body is at most :data:`MAX_BODY` bytes (larger ones get 413 before they are read) and nested at most
:data:`MAX_JSON_DEPTH` levels, counted before it is parsed (:func:`json_depth`).
"""

from __future__ import annotations

from flask import request

from autoal.server.labelling import Refused

__all__ = ["MAX_BODY", "MAX_JSON_DEPTH", "json_body", "json_depth"]

MAX_BODY = 4096  # bytes; an answer is a few dozen
MAX_JSON_DEPTH = 2  # the API's bodies are flat objects; deeper nesting is refused before it is parsed


def json_body(*fields, optional=()) -> dict:
    """The JSON object of this request, with exactly the allowed fields: every one of ``fields`` and any of
    ``optional`` (Refused 400 or 415 otherwise)."""
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
