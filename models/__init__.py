"""TensorFlow models for churn and upsell: the model contract, kinds (MLP, logistic baseline),
labelled sets, training, evaluation, tuning, the registry and batched scoring with fallback.

Importing this package is cheap: TensorFlow loads on first use.
"""

from models.contract import FitReport, ScoringModel
from models.dataset import LabelledSet, build_labelled_set
from models.errors import (
    FeatureMismatchError,
    FingerprintMismatchError,
    ModelError,
    ModelLoadError,
    RegistryError,
    ScoringError,
)
from models.kinds import MODEL_KINDS, load_model, new_model
from models.registry import ModelRegistry, VersionInfo
from models.serving import FallbackScorer, ModelScorer, ScoreResult
from models.training import TrainOutcome, fit_and_evaluate, train_task

__all__ = [
    "MODEL_KINDS",
    "FallbackScorer",
    "FeatureMismatchError",
    "FingerprintMismatchError",
    "FitReport",
    "LabelledSet",
    "ModelError",
    "ModelLoadError",
    "ModelRegistry",
    "ModelScorer",
    "RegistryError",
    "ScoreResult",
    "ScoringError",
    "ScoringModel",
    "TrainOutcome",
    "VersionInfo",
    "build_labelled_set",
    "fit_and_evaluate",
    "load_model",
    "new_model",
    "train_task",
]
