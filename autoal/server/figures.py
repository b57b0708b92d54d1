"""The run's figures as the organiser page shows them, and the marks the round driver leaves for them.

Rounds trained, per annotator and per class counts, disagreements, answers since the last training
(:func:`news`, counted from the mark :func:`mark_trained` leaves as a round starts training), the
annotators' estimated quality, and what a round's batch still waits for. Each function reads through a
:class:`~autoal.server.labelling.Desk`'s connection (the questions are
:mod:`autoal.store.labelling_queries`'); none writes an answer.
"""

from __future__ import annotations

import numpy as np

from autoal.server import access
from autoal.store import labelling_queries as queries
from autoal.store import server_tables

__all__ = ["history", "annotator_table", "news", "mark_trained", "class_counts", "disagreements", "quality",
           "save_quality", "pending"]


def history(desk) -> list:
    """The finished rounds' records (round, n_labeled, n_annotations, accuracy, ...)."""
    return [record for record, _ in desk.store.rounds()]


def annotator_table(desk, names) -> list:
    """Per annotator: ``labels``, ``skips``, ``open`` (pending), ``last_seen`` and ``quality`` (cleanlab's
    estimate from the last training, None before)."""
    labels = queries.labels_per_annotator(desk.db)
    skips = queries.skips_per_annotator(desk.db)
    open_ = queries.open_per_annotator(desk.db)
    seen = access.last_seen(desk.db)
    estimated = quality(desk)
    shown = list(names) + [n for n in labels if n not in names]
    return [{"name": n, "labels": int(labels.get(n, 0)), "skips": int(skips.get(n, 0)), "open": int(open_.get(n, 0)),
             "last_seen": seen.get(n), "quality": estimated.get(n)} for n in shown]


def news(desk) -> int:
    """Answers that arrived since the last trained round: labels stored after its snapshot (from the page,
    files or any other way) plus label changes and withdrawals since it was trained. 0 means training
    again would see exactly the labels it saw."""
    latest = queries.latest_round_record(desk.db)
    watermark = latest.get("watermark", 0) if latest is not None else 0
    arrived = queries.count_annotations_after(desk.db, watermark)
    mark = server_tables.read_setting(desk.db, "trained_edits")
    edits = desk.store.edits() - mark if mark is not None and latest is not None else 0
    return arrived + max(int(edits), 0)


def mark_trained(desk) -> None:
    """Note the store's edit counter as a round starts training (for :func:`news`)."""
    server_tables.write_setting(desk.db, "trained_edits", desk.store.edits())


def class_counts(desk) -> list:
    """Per class: ``name``, ``annotations`` (answers naming it) and ``examples`` (examples whose most
    frequent answer it is; a tie counts for each tied class), in the run's class order."""
    per_example = {}
    for example, label, n in queries.answer_counts(desk.db):
        per_example.setdefault(example, []).append((n, label))
    examples = np.zeros(len(desk.facts.classes), dtype=int)
    for counts in per_example.values():
        top = max(n for n, _ in counts)
        for n, label in counts:
            examples[label] += n == top
    annotations = queries.annotations_per_label(desk.db)
    return [{"name": name, "annotations": int(annotations.get(k, 0)), "examples": int(examples[k])}
            for k, name in enumerate(desk.facts.class_names)]


def disagreements(desk, limit=50) -> tuple:
    """Examples whose annotations differ: ``(total, rows)``, rows (at most ``limit``, the latest answered
    first) with ``example_id`` and ``answers`` (``[{"annotator", "label"}, ...]`` in the order given)."""
    positions = queries.disagreed_examples(desk.db)
    rows = []
    for position in positions[:limit]:
        answers = queries.answers_to(desk.db, position)
        rows.append({"example_id": desk.facts.id_text[position],
                     "answers": [{"annotator": a, "label": desk.facts.class_names[k]} for a, k in answers]})
    return len(positions), rows


def quality(desk) -> dict:
    """``{annotator: estimated quality}`` saved after the last training (cleanlab's CROWDLAB estimate)."""
    return server_tables.read_setting(desk.db, "annotator_quality", {})


def save_quality(desk, estimates: dict) -> None:
    """Keep ``{annotator: estimated quality}`` from the latest training (read back by :func:`quality`)."""
    server_tables.write_setting(desk.db, "annotator_quality", estimates)


def pending(desk, round_) -> dict:
    """``{annotator: open examples assigned in round_}``."""
    return queries.open_in_round_per_annotator(desk.db, round_)
