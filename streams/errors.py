"""The project's exception hierarchy.

Every error streamscore raises on purpose derives from :class:`StreamscoreError` and, where one
fits, from the builtin it resembles, so callers can catch either.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "KafkaAuthError",
    "KafkaSetupError",
    "SparkSetupError",
    "StateDirError",
    "StreamscoreError",
]


class StreamscoreError(Exception):
    """Root of every error streamscore raises deliberately."""


class ConfigError(StreamscoreError, ValueError):
    """A setting is unknown, malformed or out of range."""


class KafkaSetupError(StreamscoreError, RuntimeError):
    """The local Kafka broker cannot be fetched, started, reached or stopped."""


class KafkaAuthError(StreamscoreError, PermissionError):
    """A Kafka cluster refused the configured credentials, or the TLS handshake failed."""


class SparkSetupError(StreamscoreError, RuntimeError):
    """Apache Spark cannot be used: pyspark or Java missing, or the session failed to start."""


class StateDirError(StreamscoreError, OSError):
    """The state directory cannot be created or written, or its disk is (nearly) full."""
