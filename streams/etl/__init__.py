"""Parsing and validation: raw payloads (log lines, JSON, Arrow IPC) and files -> normalised events.

Pure functions, no Kafka: the stream layer calls :func:`parse_batch` on micro-batches of record
values and turns each :class:`Rejected` into a dead letter; the offline path reads files with
:func:`read_file`, which yields the same events for the same lines.
"""

from streams.etl.batch import parse_batch, to_input_format
from streams.etl.errors import EventValidationError, InputFormatError, ParseError, RecordError
from streams.etl.files import FileChunk, FileKind, detect_file_kind, read_file
from streams.etl.types import (
    FileOrigin,
    InputFormat,
    Origin,
    OriginLike,
    ParsedBatch,
    ParseOptions,
    Rejected,
    TopicOrigin,
)

__all__ = [
    "EventValidationError",
    "FileChunk",
    "FileKind",
    "FileOrigin",
    "InputFormat",
    "InputFormatError",
    "Origin",
    "OriginLike",
    "ParseError",
    "ParseOptions",
    "ParsedBatch",
    "RecordError",
    "Rejected",
    "TopicOrigin",
    "detect_file_kind",
    "parse_batch",
    "read_file",
    "to_input_format",
]
