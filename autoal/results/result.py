"""What :func:`autoal.run` and :func:`autoal.resume` return."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from autoal.learners import Learner

__all__ = ["RunResult"]


@dataclass
class RunResult:
    """What :func:`run` and :func:`resume` return.

    Attributes
    ----------
    history : DataFrame
        One row per round (round 0 = the model on the initial labels): ``round``, ``n_labeled``,
        ``n_annotations``, ``n_new_labels``, ``n_relabels``, ``n_multi_labeled``, ``accuracy``,
        ``consensus_accuracy`` (simulation), per-stage seconds, ``picked_ids`` and more.
    labels : DataFrame
        Every annotation: ``example_id, annotator, label, round, timestamp``.
    consensus : DataFrame
        Per labelled example (index: id): ``label`` (consensus), ``quality``, ``n_annotations``.
    annotator_quality : DataFrame
        Per annotator: ``n_labels``, ``estimated_quality`` and, in simulation, ``true_accuracy``.
    learner : Learner
        The learner after the last round.
    classes : list
        The run's class list (column order of every ``predict_proba``).
    test_ids : list
        Ids of the holdout rows accuracy is measured on.
    output_dir : Path
        The run's folder.
    summary : dict
        Settings, versions, dataset sizes, final accuracy and why the run stopped.
    final : dict or None
        With ``run(..., final_learner=...)``: the final model fitted once at the end
        (:func:`autoal.rounds.final_model.train_final_model`'s report: its holdout accuracy beside the run's
        learner's, its fit time, its folder).
    """

    history: pd.DataFrame
    labels: pd.DataFrame
    consensus: pd.DataFrame
    annotator_quality: pd.DataFrame
    learner: Learner
    classes: list
    test_ids: list
    output_dir: Path
    summary: dict = field(default_factory=dict)
    final: dict | None = None

    @property
    def predictor(self):
        """The final trained model (e.g. AutoGluon's ``MultiModalPredictor``; the learner itself, whose
        ``predict_proba`` averages them, when it trains several fits per round, as the AutoGluon learner does by
        default: ``learner.members_`` holds them)."""
        if len(getattr(self.learner, "members_", ())) > 1:
            return self.learner
        for attribute in ("predictor_", "model_"):
            if getattr(self.learner, attribute, None) is not None:
                return getattr(self.learner, attribute)
        return self.learner

    @property
    def final_accuracy(self) -> float:
        """Holdout accuracy after the last round."""
        return float(self.history["accuracy"].iloc[-1])
