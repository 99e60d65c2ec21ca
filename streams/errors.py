"""The project's exception hierarchy.

Every error streamscore raises on purpose derives from :class:`StreamscoreError` and, where one
fits, from the builtin it resembles, so callers can catch either.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # not imported at run time: the CLI starts without NumPy and Arrow
    from schemas.deadletter import DeadLetterStage

__all__ = [
    "ConfigError",
    "KafkaAuthError",
    "KafkaSetupError",
    "SparkSetupError",
    "StageError",
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


class StageError(StreamscoreError):
    """A pipeline stage refused a record or a whole batch: what becomes a dead letter.

    ``stage`` is the :class:`~schemas.deadletter.DeadLetterStage` that refused it, the one
    vocabulary of bad records from the raise to the dead letter: a subclass fixes it
    (``streams.etl.ParseError`` is ``PARSE``, ``EventValidationError`` is ``VALIDATE``), or the
    raiser gives it (``StageError(message, stage=DeadLetterStage.SCORE)``).
    """

    stage: DeadLetterStage

    def __init__(self, *args: object, stage: DeadLetterStage | None = None) -> None:
        super().__init__(*args)
        if stage is not None:
            self.stage = stage
        elif not hasattr(type(self), "stage"):
            raise TypeError(
                f"raising {type(self).__name__}: expected stage=<a DeadLetterStage> (its class "
                "fixes none), got none"
            )

    def __reduce__(self):  # pickled with its stage (Spark and process pools copy errors)
        return functools.partial(type(self), stage=self.stage), self.args, self.__dict__ or None
