"""What a run reports: its progress lines, each round's history row, the result tables and the files for people.

The run store holds the history (one record per finished round); the files written here
(``history.csv`` after every round; ``summary.json``, ``labels.csv``, ``annotators.csv`` and
``learning_curve.png`` whenever the run stops or pauses, and when a labelling server stops) are
copies for people and other tools, each written atomically (:mod:`autoal.common.files`).
"""

from __future__ import annotations

import json
import platform
import shlex
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from autoal.common.files import write_csv_atomic, write_json_atomic
from autoal.common.json_values import plain_scalar

__all__ = ["RunReporter", "package_versions", "command_line", "plot_learning_curve", "label_counts", "consensus_table",
           "annotator_table", "HISTORY_COLUMNS", "STAGE_SECONDS"]

_PACKAGES = ("autoal", "autogluon.multimodal", "cleanlab", "torch", "timm", "scikit-learn", "pandas", "numpy")

#: The stages of a round, each timed once; ``round_seconds`` is their sum. A learner's own facts (the embeddings
#: learner's ``embed_seconds``) are parts of a stage (``fit_seconds``) and not added again.
STAGE_SECONDS = ("predict_seconds", "score_seconds", "select_seconds", "annotate_seconds", "consensus_seconds",
                 "fit_seconds", "eval_seconds", "stop_seconds", "resume_fit_seconds")

#: The history's leading columns, in order; others (learner facts, stop rule) follow.
HISTORY_COLUMNS = ["round", "n_labeled", "n_annotations", "n_new_labels", "n_relabels", "n_multi_labeled", "n_pool",
                   "accuracy", "consensus_accuracy", "fit_seconds", "predict_seconds", "score_seconds",
                   "select_seconds", "annotate_seconds", "eval_seconds", "round_seconds"]


def command_line(script: str, args, *, leave_out=()) -> str:
    """The shell command that repeats a benchmark: ``python SCRIPT`` and its parsed ``args`` (an argparse
    namespace) as options, shell-quoted; a true flag bare, dictionaries as JSON, lists comma-separated; None,
    False, empty dictionaries and the names in ``leave_out`` left out (for a benchmark's ``summary.json``)."""
    words = ["python", script]
    for name, value in vars(args).items():
        if name in leave_out or value is None or value is False or (isinstance(value, dict) and not value):
            continue
        words.append(f"--{name.replace('_', '-')}")
        if value is not True:
            words.append(json.dumps(value) if isinstance(value, dict)
                         else ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value))
    return shlex.join(words)


def package_versions() -> dict:
    """Installed versions of the packages a run's numbers depend on (None when missing)."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def label_counts(snapshot, since_watermark) -> dict:
    """The history's label counts: totals, and the labels that arrived after ``since_watermark``.

    ``n_new_labels`` counts arrivals that were their example's first label, ``n_relabels`` the rest.
    """
    first = np.unique(snapshot.example, return_index=True)[1]
    first_seq = snapshot.seq[first]
    arrived = int((snapshot.seq > since_watermark).sum())
    new = int((first_seq > since_watermark).sum())
    n_labeled = int(len(first))
    return {"n_labeled": n_labeled, "n_annotations": snapshot.n_annotations, "n_new_labels": new,
            "n_relabels": arrived - new, "n_multi_labeled": snapshot.n_multi_labelled,
            "n_pool": snapshot.n_examples - n_labeled}


def consensus_table(state, consensus, positions, snapshot) -> pd.DataFrame:
    """Per labelled example (index: id): consensus ``label``, ``quality``, ``n_annotations``."""
    if consensus is None:
        return pd.DataFrame(columns=["label", "quality", "n_annotations"])
    return pd.DataFrame({"label": np.asarray(state.classes)[consensus.labels],
                         "quality": consensus.quality, "n_annotations": snapshot.counts[positions]},
                        index=pd.Index(state.ids_of(positions), name="example_id"))


def annotator_table(state, consensus, columns, snapshot, truth=None) -> pd.DataFrame:
    """Per annotator: ``n_labels``, ``estimated_quality`` and, in simulation (``truth``: class index per
    position), ``true_accuracy`` on the examples they labelled."""
    names = np.array(snapshot.names, dtype=object)[snapshot.annotator]
    table = pd.DataFrame(index=pd.Index(columns, name="annotator"))
    table["n_labels"] = pd.Series(names).value_counts().reindex(table.index).fillna(0).astype(int)
    quality = consensus.annotator_quality if consensus is not None else pd.Series(dtype=float)
    table["estimated_quality"] = quality.reindex(table.index)
    if truth is not None:
        correct = pd.Series(truth[snapshot.example] == snapshot.label)
        table["true_accuracy"] = correct.groupby(names).mean().reindex(table.index)
    return table


class RunReporter:
    """Collects one row per round, prints a progress line, and keeps the run's files up to date."""

    def __init__(self, output_dir: Path, settings: dict, data, *, verbose=True, rows=None):
        self.output_dir = Path(output_dir)
        self.verbose = verbose
        self.rows: list[dict] = list(rows or [])
        self.started = time.time()
        self.summary = {
            "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in settings.items()},
            "versions": package_versions(),
            "mode": "simulation" if data.simulation else "real",
            "holdout": data.holdout,
            "n_examples": int(len(data.frame)),
            "n_test": int(len(data.test)),
            "n_initial": len(data.initial_ids),
            "classes": [c if isinstance(c, (int, str)) else str(c) for c in data.classes],
            "dropped_images": [{"path": p, "reason": r} for p, r in data.dropped],
            "output_dir": str(self.output_dir),
        }
        if verbose and self.rows:
            print(f"autoal: resuming {self.output_dir} after round {self.rows[-1]['round']}")
        elif verbose:
            print(
                f"autoal: {self.summary['mode']} mode, {len(data.frame)} examples, {len(data.classes)} classes, "
                f"{len(data.initial_ids)} labelled to start; holdout: {data.holdout}; output: {self.output_dir}"
            )
            if data.dropped:
                print(f"  dropped {len(data.dropped)} rows with unreadable images (listed in summary.json)")

    @staticmethod
    def complete(row: dict, holdout: str) -> dict:
        """A round's row with the fields derived from the others (``holdout``, ``n_picked``, ``round_seconds``: the
        sum of the round's :data:`STAGE_SECONDS`, each second counted once; round 0's selection includes the first
        embedding pass of a cold start)."""
        row = dict(row, holdout=holdout, n_picked=len(row.get("picked_ids", [])))
        row["round_seconds"] = float(sum(row.get(k) or 0.0 for k in STAGE_SECONDS))
        return row

    def add_round(self, row: dict) -> None:
        """Record a finished round (already completed and stored), rewrite history.csv and print its line."""
        self.rows.append(row)
        write_csv_atomic(self.history(), self.output_dir / "history.csv", index=False)
        if self.verbose:
            relabels = f" ({row['n_relabels']} relabels)" if row.get("n_relabels") else ""
            print(
                f"round {row['round']:>2} | labels {row['n_labeled']:>5}{relabels} | annotations {row['n_annotations']:>5} | "
                f"accuracy {row['accuracy']:.3f} | fit {row['fit_seconds']:6.1f}s | round {row['round_seconds']:6.1f}s",
                flush=True,
            )

    def history(self) -> pd.DataFrame:
        """The rounds so far; ``picked_ids`` is a JSON list in the CSV."""
        frame = pd.DataFrame(self.rows)
        if frame.empty:
            return frame
        frame["picked_ids"] = [json.dumps([plain_scalar(i) for i in ids]) for ids in frame["picked_ids"]]
        frame = frame.drop(columns=[c for c in ("watermark",) if c in frame])
        return frame[[c for c in HISTORY_COLUMNS if c in frame] + [c for c in frame if c not in HISTORY_COLUMNS]]

    def finish(self, labels: pd.DataFrame, stop_reason: str, annotators: pd.DataFrame, *, paused=False) -> pd.DataFrame:
        """Write summary.json, labels.csv, annotators.csv and (once a round is recorded) learning_curve.png;
        return the history.

        ``paused``: the run is not over (it waits for answers, or was interrupted) and goes on with
        ``autoal resume`` or ``autoal serve``; ``stop_reason`` then says what it waits for.
        """
        write_csv_atomic(labels, self.output_dir / "labels.csv", index=False)
        write_csv_atomic(annotators, self.output_dir / "annotators.csv")
        history = self.history()
        self.summary.update(paused=bool(paused), stop_reason=stop_reason, n_annotations=int(len(labels)),
                            seconds=round(time.time() - self.started, 1))
        if not history.empty:
            self.summary.update(n_rounds_done=int(history["round"].max()), n_labeled=int(history["n_labeled"].iloc[-1]),
                                final_accuracy=float(history["accuracy"].iloc[-1]))
            plot_learning_curve(history, self.output_dir / "learning_curve.png",
                                title=self.summary["settings"].get("strategy"))
        write_json_atomic(self.output_dir / "summary.json", self.summary)
        if self.verbose:
            print(self._final_line(history, stop_reason, paused))
        return history

    def _final_line(self, history, stop_reason, paused) -> str:
        files = f"files in {self.output_dir}"
        if paused:
            return f"autoal: paused: {stop_reason}; labels so far in {self.output_dir / 'labels.csv'}"
        if history.empty:
            return f"autoal: stopped before round 0 finished ({stop_reason}); {files}"
        return (f"autoal: stopped ({stop_reason}); final accuracy {self.summary['final_accuracy']:.3f} "
                f"with {self.summary['n_labeled']} labels; {files}")


def plot_learning_curve(history: pd.DataFrame, path, *, title=None) -> Path:
    """Plot holdout accuracy against the number of labelled examples and save it as a PNG."""
    from autoal.results.curves import plot_curves

    curve = history.assign(budget=history["n_labeled"], accuracy_std=0.0, name=str(title or "autoal"))
    plot_curves(curve, path, group="name")
    return Path(path)
