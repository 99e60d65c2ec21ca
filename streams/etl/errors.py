"""Errors of the ETL package.

A record that cannot become an event is data, not a crash: parsers catch these errors per
payload and return them as :class:`~streams.etl.types.Rejected` records (the stream layer turns
those into dead letters). They are raised out of the package only where a caller asked for
something impossible (an unknown format name, a file that cannot be opened).
"""

from __future__ import annotations

from schemas.deadletter import DeadLetterStage
from streams.errors import StageError, StreamscoreError

__all__ = ["EventValidationError", "InputFormatError", "ParseError", "RecordError"]


class RecordError(StageError, ValueError):
    """One payload could not become an event; ``stage`` (a
    :class:`~schemas.deadletter.DeadLetterStage`) says which step refused it."""

    stage = DeadLetterStage.PARSE


class ParseError(RecordError):
    """The payload is not in the expected syntax (bad JSON or UTF-8, a line no grammar matches)."""

    stage = DeadLetterStage.PARSE


class EventValidationError(RecordError):
    """The payload parsed but a field is missing, of the wrong type or out of range."""

    stage = DeadLetterStage.VALIDATE


class InputFormatError(StreamscoreError, ValueError):
    """A format name, file or option given by the caller is unknown or unusable."""
