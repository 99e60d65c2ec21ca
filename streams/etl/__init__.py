"""Parsing and validation: raw payloads (log lines, JSON, Arrow IPC) and files -> normalised events.

Pure functions, no Kafka: the stream layer calls :func:`parse_batch` on micro-batches of record
values and turns each :class:`Rejected` into a dead letter; the offline path reads files with
:func:`read_file`, which yields the same events for the same lines.
"""

from streams.etl.batch import parse_batch, to_input_format
from streams.etl.deadletters import dead_letter_of
from streams.etl.errors import EventValidationError, InputFormatError, ParseError, RecordError
from streams.etl.files import FileChunk, FileKind, detect_file_kind, read_file
from streams.etl.job import EtlResult, rejected_record, run_etl
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
    "EtlResult",
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
    "dead_letter_of",
    "detect_file_kind",
    "parse_batch",
    "read_file",
    "rejected_record",
    "run_etl",
    "to_input_format",
]
