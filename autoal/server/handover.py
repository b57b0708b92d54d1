"""Handing on the open examples of annotators who stay away, to those who are here.

The organiser's setting ``reassign_after_minutes`` (:mod:`autoal.server.settings`; 0 = never) says how long
an annotator may be unseen before their open examples go to another; the round driver asks
:func:`reassign_stale` on every check.
"""

from __future__ import annotations

import time

import numpy as np

from autoal.server import access
from autoal.store import labelling_queries as queries

__all__ = ["reassign_stale"]


def reassign_stale(desk, names, minutes, now=None) -> list:
    """Hand each open example of an annotator not seen for ``minutes`` (and assigned at least that long
    ago) to the least-loaded annotator of ``names`` seen within ``minutes`` who may still be asked about
    it. Returns ``[(example_id, from, to), ...]``."""
    if not minutes:
        return []
    now = time.time() if now is None else now
    limit = minutes * 60.0
    seen = access.last_seen(desk.db)
    present = [n for n in names if now - seen.get(n, -np.inf) <= limit]
    if not present:
        return []
    rows = queries.open_assignments(desk.db)
    load = {n: 0 for n in present}
    for _, _, holder, _ in rows:
        if holder in load:
            load[holder] += 1
    moved = []
    for round_, example, holder, assigned_at in rows:
        if holder not in names or holder in present or now - assigned_at < limit:
            continue
        blocked = queries.annotators_involved(desk.db, example)
        takers = [n for n in present if n not in blocked]
        if not takers:
            continue
        taker = min(takers, key=lambda n: (load[n], present.index(n)))
        desk.store.reassign(example, holder, taker, round_)
        load[taker] += 1
        moved.append((desk.facts.id_text[example], holder, taker))
    return moved
