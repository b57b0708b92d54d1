"""Per-round progress lines and the run's files: history.csv, summary.json, learning_curve.png."""

from __future__ import annotations

import json
import platform
import time
from importlib import metadata
from pathlib import Path

import pandas as pd

__all__ = ["RunReporter", "package_versions", "plot_learning_curve", "read_history"]

_PACKAGES = ("autoal", "autogluon.multimodal", "cleanlab", "torch", "timm", "scikit-learn", "pandas", "numpy")


def package_versions() -> dict:
    """Installed versions of the packages a run's numbers depend on (None when missing)."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


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

    def add_round(self, row: dict) -> None:
        """Record a finished round, rewrite history.csv and print its line."""
        row = dict(row)
        row["holdout"] = self.summary["holdout"]
        row["n_picked"] = len(row.get("picked_ids", []))
        row["round_seconds"] = sum(v for k, v in row.items() if k.endswith("_seconds") and k != "round_seconds")
        self.rows.append(row)
        self.history().to_csv(self.output_dir / "history.csv", index=False)
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
        frame["picked_ids"] = [json.dumps([_plain(i) for i in ids]) for ids in frame["picked_ids"]]
        first = ["round", "n_labeled", "n_annotations", "n_new_labels", "n_relabels", "n_multi_labeled", "n_pool",
                 "accuracy", "consensus_accuracy", "fit_seconds", "predict_seconds",
                 "score_seconds", "select_seconds", "annotate_seconds", "eval_seconds", "round_seconds"]
        return frame[[c for c in first if c in frame] + [c for c in frame if c not in first]]

    def finish(self, labels: pd.DataFrame, stop_reason: str, annotators: pd.DataFrame) -> pd.DataFrame:
        """Write summary.json, labels.csv, annotators.csv and learning_curve.png; return the history."""
        labels.to_csv(self.output_dir / "labels.csv", index=False)
        annotators.to_csv(self.output_dir / "annotators.csv")
        history = self.history()
        self.summary.update(stop_reason=stop_reason, n_annotations=int(len(labels)),
                            seconds=round(time.time() - self.started, 1))
        if history.empty:
            if self.verbose:
                print(f"autoal: stopped before round 0 finished ({stop_reason})")
            return history
        self.summary.update(
            n_rounds_done=int(history["round"].max()),
            n_labeled=int(history["n_labeled"].iloc[-1]),
            final_accuracy=float(history["accuracy"].iloc[-1]),
        )
        (self.output_dir / "summary.json").write_text(json.dumps(self.summary, indent=2, default=str))
        plot_learning_curve(history, self.output_dir / "learning_curve.png", title=self.summary["settings"].get("strategy"))
        if self.verbose:
            print(f"autoal: stopped ({stop_reason}); final accuracy {self.summary['final_accuracy']:.3f} "
                  f"with {self.summary['n_labeled']} labels; files in {self.output_dir}")
        return history


def read_history(output_dir) -> list:
    """The rows of a run's history.csv as dicts (``picked_ids`` back to lists); [] when there is none."""
    path = Path(output_dir) / "history.csv"
    if not path.exists():
        return []
    frame = pd.read_csv(path)
    rows = frame.to_dict(orient="records")
    for row in rows:
        row["picked_ids"] = json.loads(row["picked_ids"])
    return rows


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def plot_learning_curve(history: pd.DataFrame, path, *, title=None) -> Path:
    """Plot holdout accuracy against the number of labelled examples and save it as a PNG."""
    from .curves import plot_curves

    curve = history.assign(budget=history["n_labeled"], accuracy_std=0.0, name=str(title or "autoal"))
    plot_curves(curve, path, group="name")
    return Path(path)
