"""autoal: active learning on top of AutoGluon MultiModal, scored with cleanlab's ActiveLab.

``autoal.run(df)`` trains a learner on the labelled rows, scores the pool, asks for a batch of labels
and repeats, recording holdout accuracy every round. AutoGluon and torch are imported only when a
learner needs them, so ``import autoal`` stays fast.
"""

from autoal import _moved

_moved.install()  # old import paths (autoal.loop, autoal.terminal, ...) keep working

from autoal.annotation.annotators import (  # noqa: E402
    Annotator,
    CallableAnnotator,
    ExternalAnnotator,
    OracleAnnotator,
    SimulatedAnnotator,
    StopAnnotation,
    simulated_annotators,
)
from autoal.data.manifest import load_manifest  # noqa: E402
from autoal.errors import AnnotationError, AutoalError, InputError, MissingDependencyError, PoolExhausted  # noqa: E402
from autoal.learners import LEARNERS, AutoGluonLearner, FastLearner, Learner, TabularLearner  # noqa: E402
from autoal.query.relabel_policy import RelabelPolicy  # noqa: E402
from autoal.query.strategies import STRATEGIES  # noqa: E402
from autoal.rounds.config import RunConfig  # noqa: E402
from autoal.rounds.loop import RunResult, resume, run  # noqa: E402
from autoal.rounds.scoring import RayScorer  # noqa: E402
from autoal.rounds.stopping import StablePredictions  # noqa: E402
from autoal.results.model import load_model  # noqa: E402
from autoal.rounds.final_model import train_final_model  # noqa: E402

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
