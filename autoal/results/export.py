"""Labels out of a run folder: every annotation, the consensus per example, annotator quality, and the people's files.

Everything here reads the run store only and trains nothing, so it works on a run that is paused,
stopped, or being served (``autoal export-labels``, the organiser page's downloads, a server that
stops). The consensus is the run's own rule (:func:`autoal.multiannotator.consensus.consensus_labels`): an example's
majority label while no example has two labels; once some have, cleanlab's CROWDLAB fed with the
out-of-sample probabilities the run stored for the labelled examples (:func:`stored_probabilities`).
When some labelled example has none stored yet (the run has not needed them), the majority vote is
used for all and the ``method`` column says so.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from autoal.multiannotator.consensus import Consensus, consensus_labels, majority_vote
from autoal.errors import InputError
from autoal.common.checks import StrOptions, check_option
from autoal.common.files import write_csv_atomic
from autoal.common.spreadsheet import spreadsheet_safe
from autoal.results.reporting import RunReporter, annotator_table, consensus_table
from autoal.store.run_state import open_run

__all__ = ["with_image_paths", "annotations_frame", "store_consensus", "stored_probabilities", "consensus_frame",
           "annotators_frame", "export_labels", "csv_text", "write_people_files", "LABEL_COLUMNS",
           "CONSENSUS_COLUMNS", "TABLES"]

#: Columns of the every-annotation table (then the example's image path, when the run has images).
LABEL_COLUMNS = ["example_id", "annotator", "label", "round", "timestamp"]
#: Columns of the consensus table (then the image path).
CONSENSUS_COLUMNS = ["example_id", "label", "quality", "n_annotations", "method"]
#: The tables :func:`csv_text` writes.
TABLES = ("labels", "consensus", "annotators")


def with_image_paths(state, frame, positions) -> pd.DataFrame:
    """``frame`` (one row per entry of ``positions``) with the examples' image paths appended as a last
    column named as in the run (runs with an image column only; others are returned as they are)."""
    image_col = state.settings.get("image_col")
    if image_col is None or image_col not in state.data.frame.columns:
        return frame
    paths = state.data.frame[image_col].to_numpy()[np.asarray(positions, dtype=np.int64)]
    return frame.assign(**{str(image_col): paths})


def annotations_frame(state, snapshot=None) -> pd.DataFrame:
    """Every annotation, in the order given: ``example_id, annotator, label, round, timestamp`` and the image path.

    ``timestamp`` is seconds since the epoch; ``label`` is the class name.
    """
    snapshot = snapshot or state.snapshot()
    return with_image_paths(state, state.labels_table(snapshot), snapshot.example)


def _columns(snapshot, names) -> list:
    """Label-matrix columns as the run orders them: annotators with labels first, then the run's others."""
    used = snapshot.annotators_used()
    return used + [n for n in names if n not in used]


def store_consensus(state, snapshot=None) -> tuple:
    """The consensus over the labelled examples from the store alone: ``(consensus or None, positions, columns)``.

    ``positions``: the labelled examples in the order first labelled; ``columns``: annotator names
    (the label matrix's columns). None when nothing is labelled.
    """
    snapshot = snapshot or state.snapshot()
    positions = snapshot.labelled
    columns = _columns(snapshot, state.settings.get("annotator_names", []))
    if not len(positions):
        return None, positions, columns
    matrix = snapshot.matrix(positions, columns)
    if not snapshot.n_multi_labelled:
        return consensus_labels(matrix, None, columns), positions, columns
    probs = stored_probabilities(state, positions)
    if probs is not None:
        seed = state.settings.get("random_state", 0)  # the run's seed: the same tie-breaks as the run's consensus
        return consensus_labels(matrix, probs, columns, random_state=seed), positions, columns
    vote, agreement = majority_vote(matrix)
    quality = pd.Series(np.nan, index=columns, dtype=float)
    return Consensus(vote, agreement, quality, "majority_vote"), positions, columns


def stored_probabilities(state, positions):
    """The out-of-sample probabilities the run stored for ``positions`` (shape (n, K)), or None when some
    example has none: the K-fold models' of the last round (``oos="cross_val"``), else those of the model
    that picked the example, else cross-validated ones."""
    positions = np.asarray(positions, dtype=np.int64)
    k = len(state.classes)
    out = np.full((len(positions), k), np.nan)
    found = np.zeros(len(positions), dtype=bool)
    for kind in ("fold", "pick", "cv"):
        examples, probs = state.store.probabilities(kind, k)
        row = np.full(len(state.ids), -1, dtype=np.int64)
        row[examples] = np.arange(len(examples))
        take = ~found & (row[positions] >= 0)
        out[take] = probs[row[positions[take]]]
        found |= take
    return out if found.all() else None


def consensus_frame(state, consensus, positions, snapshot) -> pd.DataFrame:
    """One row per labelled example: ``example_id, label, quality, n_annotations, method`` and the image path."""
    if consensus is None:
        return with_image_paths(state, pd.DataFrame(columns=CONSENSUS_COLUMNS), [])
    table = consensus_table(state, consensus, positions, snapshot).reset_index().assign(method=consensus.method)
    return with_image_paths(state, table[CONSENSUS_COLUMNS], positions)


def annotators_frame(state, consensus, columns, snapshot) -> pd.DataFrame:
    """Per annotator (index): ``n_labels``, ``estimated_quality`` and, in simulation, ``true_accuracy``."""
    truth = None
    if state.data.simulation:
        truth = np.array([state.class_index[c] for c in state.data.frame[state.label]])
    return annotator_table(state, consensus, columns, snapshot, truth)


def csv_text(run_dir, what="labels") -> tuple:
    """``(CSV text, rows)`` of one of a run's tables, read from its store now.

    ``what``: ``"labels"`` (every annotation), ``"consensus"`` (one row per labelled example) or
    ``"annotators"`` (label count and estimated quality per annotator).
    """
    check_option("table", what, StrOptions(TABLES))
    state = open_run(run_dir)
    try:
        snapshot = state.snapshot()
        if what == "labels":
            frame, index = annotations_frame(state, snapshot), False
        else:
            agreed, positions, columns = store_consensus(state, snapshot)
            frame, index = (consensus_frame(state, agreed, positions, snapshot), False) if what == "consensus" \
                else (annotators_frame(state, agreed, columns, snapshot), True)
    finally:
        state.close()
    buffer = io.StringIO()
    spreadsheet_safe(frame).to_csv(buffer, index=index)  # the organiser opens it in a spreadsheet: no formulas
    return buffer.getvalue(), len(frame)


def export_labels(run_dir, out=None, *, consensus=False, annotators=None) -> dict:
    """Write a run's labels as CSV: every annotation, or one row per labelled example with ``consensus``.

    Parameters
    ----------
    run_dir : path-like
        The run folder.
    out : path-like, optional
        The CSV to write; default ``RUN_DIR/labels.csv`` (``RUN_DIR/consensus.csv`` with ``consensus``).
    consensus : bool
        One row per labelled example (:data:`CONSENSUS_COLUMNS`) instead of every annotation
        (:data:`LABEL_COLUMNS`); both end with the image path when the run has images.
    annotators : path-like, optional
        Also write each annotator's label count and estimated quality to this CSV.

    Returns
    -------
    dict
        ``{"labels": (path, rows)}`` and, with ``annotators``, ``{"annotators": (path, rows)}``.
    """
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / ("consensus.csv" if consensus else "labels.csv")
    for path in [out] + ([Path(annotators)] if annotators is not None else []):
        if path.is_dir():
            raise InputError(f"{str(path)!r} is a folder; pass a file name such as {path / 'labels.csv'}")
        if not path.parent.is_dir():
            raise InputError(f"the folder of {str(path)!r} does not exist; create it or choose another path")
    state = open_run(run_dir)
    try:
        snapshot = state.snapshot()
        agreed, positions, columns = store_consensus(state, snapshot)
        frame = consensus_frame(state, agreed, positions, snapshot) if consensus else annotations_frame(state, snapshot)
        written = {"labels": (write_csv_atomic(frame, out, index=False), len(frame))}
        if annotators is not None:
            table = annotators_frame(state, agreed, columns, snapshot)
            written["annotators"] = (write_csv_atomic(table, Path(annotators)), len(table))
        return written
    finally:
        state.close()


def write_people_files(run_dir, reason, *, paused=True) -> Path:
    """Write the run's files for people (``labels.csv``, ``annotators.csv``, ``summary.json``, the learning
    curve once a round is recorded) from its store, as a run does when it stops or pauses.

    For a run that no loop is driving at the moment, e.g. when a labelling server stops. ``reason``
    (what stopped it) goes to ``summary.json``'s ``stop_reason``; with ``paused``, followed by the
    round the run goes on with and who still owes answers for it. Returns the run folder.
    """
    from autoal.annotation.batch_files import waiting_round

    state = open_run(run_dir)
    try:
        if paused:
            r, owed = waiting_round(state)
            who = ", ".join(f"{name} ({k} open)" for name, k in owed.items())
            reason = f"{reason}; round {r} " + (f"waits for answers from {who}" if owed else "has its answers and "
                                                  "trains when the run goes on")
        snapshot = state.snapshot()
        agreed, _, columns = store_consensus(state, snapshot)
        rows = [record for record, _ in state.store.rounds()]
        reporter = RunReporter(state.folder, state.settings, state.data, verbose=False, rows=rows)
        reporter.finish(annotations_frame(state, snapshot), reason, annotators_frame(state, agreed, columns, snapshot),
                        paused=paused)
        return state.folder
    finally:
        state.close()
