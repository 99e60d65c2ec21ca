"""Errors of the feature pipeline."""

from __future__ import annotations

from streams.errors import StreamscoreError

__all__ = ["FeatureInputError", "FeatureSpecError", "FingerprintError"]


class FeatureSpecError(StreamscoreError, ValueError):
    """A feature spec (JSON or object) is malformed or inconsistent."""


class FeatureInputError(StreamscoreError, ValueError):
    """A batch of events cannot be featurised (a column the spec needs is missing or null)."""


class FingerprintError(StreamscoreError, ValueError):
    """A saved pipeline's fingerprint does not match its spec and statistics."""
