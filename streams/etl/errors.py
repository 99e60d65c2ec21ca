"""Errors of the ETL package.

A record that cannot become an event is data, not a crash: parsers catch these errors per
payload and return them as :class:`~streams.etl.types.Rejected` records (the stream layer turns
those into dead letters). They are raised out of the package only where a caller asked for
something impossible (an unknown format name, a file that cannot be opened).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from streams.errors import StreamscoreError

__all__ = ["EventValidationError", "InputFormatError", "ParseError", "RecordError"]

Stage = Literal["parse", "validate"]


class RecordError(StreamscoreError, ValueError):
    """One payload could not become an event; ``stage`` says which step refused it."""

    stage: ClassVar[Stage] = "parse"


class ParseError(RecordError):
    """The payload is not in the expected syntax (bad JSON or UTF-8, a line no grammar matches)."""

    stage: ClassVar[Stage] = "parse"


class EventValidationError(RecordError):
    """The payload parsed but a field is missing, of the wrong type or out of range."""

    stage: ClassVar[Stage] = "validate"


class InputFormatError(StreamscoreError, ValueError):
    """A format name, file or option given by the caller is unknown or unusable."""
