"""autoal: active learning on top of AutoGluon MultiModal, scored with cleanlab's ActiveLab.

``autoal.run(df)`` trains a learner on the labelled rows, scores the pool, asks for a batch of labels
and repeats, recording holdout accuracy every round. AutoGluon and torch are imported only when a
learner needs them, so ``import autoal`` stays fast.
"""

from autoal.annotation.annotators import (
    Annotator,
    CallableAnnotator,
    ExternalAnnotator,
    OracleAnnotator,
    SimulatedAnnotator,
    StopAnnotation,
    simulated_annotators,
)
from autoal.data.manifest import load_manifest
from autoal.errors import AnnotationError, AutoalError, InputError, MissingDependencyError, PoolExhausted
from autoal.learners import LEARNERS, AutoGluonLearner, FastLearner, Learner, TabularLearner
from autoal.query.relabel_policy import RelabelPolicy
from autoal.query.strategies import STRATEGIES
from autoal.rounds.config import RunConfig
from autoal.rounds.loop import RunResult, resume, run
from autoal.rounds.pool_prediction import RayScorer
from autoal.rounds.stopping import StablePredictions
from autoal.results.model import load_model
from autoal.rounds.final_model import train_final_model

__version__ = "0.1.0"

__all__ = [
    "run",
    "resume",
    "load_model",
    "train_final_model",
    "RunResult",
    "RunConfig",
    "simulated_annotators",
    "load_manifest",
    "StablePredictions",
    "RelabelPolicy",
    "RayScorer",
    "Learner",
    "AutoGluonLearner",
    "FastLearner",
    "TabularLearner",
    "LEARNERS",
    "STRATEGIES",
    "Annotator",
    "OracleAnnotator",
    "SimulatedAnnotator",
    "ExternalAnnotator",
    "CallableAnnotator",
    "StopAnnotation",
    "AutoalError",
    "InputError",
    "AnnotationError",
    "MissingDependencyError",
    "PoolExhausted",
    "__version__",
]
