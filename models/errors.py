"""Errors raised by :mod:`models`: training, loading, scoring and the registry."""

from __future__ import annotations

from streams.errors import StreamscoreError

__all__ = [
    "FeatureMismatchError",
    "FingerprintMismatchError",
    "ModelError",
    "ModelLoadError",
    "RegistryError",
    "ScoringError",
]


class ModelError(StreamscoreError, RuntimeError):
    """Something went wrong training, saving, loading or running a model."""


class ModelLoadError(ModelError):
    """A model artifact is missing, corrupt or of an unknown kind."""


class ScoringError(ModelError):
    """A model raised or produced invalid scores (NaN, wrong shape) for a batch."""


class FeatureMismatchError(ModelError, ValueError):
    """A batch's feature names differ from the names the model was trained on."""


class FingerprintMismatchError(ModelError, ValueError):
    """A model was trained against another feature pipeline than the one it is loaded with."""


class RegistryError(ModelError):
    """The model registry is missing a version, or an operation on it is not allowed."""
