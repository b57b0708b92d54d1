"""autoal: active learning on top of AutoGluon MultiModal, scored with cleanlab's ActiveLab.

``autoal.run(df)`` trains a learner on the labelled rows, scores the pool, asks for a batch of labels
and repeats, recording holdout accuracy every round. AutoGluon and torch are imported only when a
learner needs them, so ``import autoal`` stays fast.
"""

from .annotators import (
    Annotator,
    CallableAnnotator,
    ExternalAnnotator,
    OracleAnnotator,
    SimulatedAnnotator,
    StopAnnotation,
    simulated_annotators,
)
from .errors import AnnotationError, AutoalError, InputError, MissingDependencyError
from .learners import LEARNERS, AutoGluonLearner, FastLearner, Learner, TabularLearner
from .loop import RunResult, resume, run
from .manifest import load_manifest
from .relabel_policy import RelabelPolicy
from .scoring import RayScorer
from .stopping import StablePredictions
from .strategies import STRATEGIES

__version__ = "0.1.0"

__all__ = [
    "run",
    "resume",
    "RunResult",
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
    "__version__",
]
