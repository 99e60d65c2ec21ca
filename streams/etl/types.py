"""The data types of the ETL package: formats, origins, options, and what a batch parse returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np
import pyarrow as pa

from schemas.deadletter import DeadLetterStage
from schemas.events import EVENT_SCHEMA
from streams.errors import StageError
from streams.etl.errors import EventValidationError, ParseError

__all__ = [
    "MAX_TS_MS",
    "MIN_TS_MS",
    "FileOrigin",
    "InputFormat",
    "Origin",
    "OriginLike",
    "ParseOptions",
    "ParsedBatch",
    "Rejected",
    "TopicKind",
    "TopicOrigin",
]

MIN_TS_MS = 946_684_800_000
"""2000-01-01T00:00:00Z. Earlier event times are rejected as absurd (a clock at zero, seconds
sent as milliseconds)."""
MAX_TS_MS = 4_102_444_800_000
"""2100-01-01T00:00:00Z (exclusive). Later event times are rejected (microseconds sent as ms)."""


class InputFormat(StrEnum):
    """What the payloads of a batch are. ``AUTO`` detects the format of each payload on its own."""

    AUTO = "auto"
    SYSLOG = "syslog"  # RFC 3164 or 5424, told apart per line
    SYSLOG_3164 = "syslog3164"
    SYSLOG_5424 = "syslog5424"
    DPKG = "dpkg"
    APT_HISTORY = "apt_history"  # one payload = one stanza (Start-Date ... End-Date)
    ACCESS_LOG = "access_log"  # Apache/Nginx common or combined
    APACHE_ERROR = "apache_error"
    LOGSTASH = "logstash"  # Logstash/Elasticsearch JSON document
    ACTIVITY = "activity"  # one activity event as a JSON object
    ARROW = "arrow"  # many activity events as one Arrow IPC stream


class TopicKind(StrEnum):
    """What an input topic takes; a payload of another kind is rejected, never guessed at.

    ``ACTIVITY`` (the activity topic): activity JSON events and Arrow IPC batches of them.
    ``LOGS`` (the raw-logs topic): log lines (syslog, dpkg, apt history, access and Apache
    error logs) and Logstash JSON documents. ``ANY``: every format (files, offline tools).
    """

    ANY = "any"
    ACTIVITY = "activity"
    LOGS = "logs"


@dataclass(frozen=True, slots=True)
class FileOrigin:
    """A payload read from a file: ``line`` is 1-based (for columnar files: the data row)."""

    path: str
    line: int = 1

    def advance(self, k: int) -> FileOrigin:
        return replace(self, line=self.line + k)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True, slots=True)
class TopicOrigin:
    """A payload consumed from Kafka."""

    topic: str
    partition: int
    offset: int

    def advance(self, k: int) -> TopicOrigin:
        return replace(self, offset=self.offset + k)

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


Origin = FileOrigin | TopicOrigin
OriginLike = Origin | Sequence[Origin]
"""One origin per payload, or the origin of the first payload of a contiguous run: payload ``i``
then comes from ``origin.advance(i)`` (line + i, offset + i)."""


def origin_at(origins: OriginLike, i: int) -> Origin:
    if isinstance(origins, FileOrigin | TopicOrigin):
        return origins.advance(i)
    return origins[i]


@dataclass(frozen=True, slots=True)
class Rejected:
    """A payload that a stage refused: its bytes untouched, where it came from, and why.

    ``stage`` is the :class:`~schemas.deadletter.DeadLetterStage` of the typed error that
    refused it: ``PARSE`` (not the expected syntax) or ``VALIDATE`` (parsed, but a field is
    wrong) from the parsers, ``FEATURISE`` or ``SCORE`` from the stream processor; ``error``
    is the name of that error's class. Make one with :meth:`of`, which takes all three from
    the error. ``stage.label`` is its text form in files and on the console.
    """

    raw: bytes
    origin: Origin
    stage: DeadLetterStage
    reason: str
    error: str = "ParseError"

    @classmethod
    def of(cls, raw: bytes, origin: Origin, exc: StageError) -> Rejected:
        """The rejection of ``raw`` from ``origin`` by ``exc``: its stage, message and name."""
        return cls(raw, origin, exc.stage, str(exc), type(exc).__name__)

    def as_error(self) -> StageError:
        """The typed exception this rejection stands for, message prefixed with the origin."""
        message = f"{self.origin}: {self.reason}"
        for cls in (ParseError, EventValidationError):
            if cls.stage is self.stage:
                return cls(message)
        return StageError(message, stage=self.stage)


@dataclass(frozen=True, slots=True)
class ParsedBatch:
    """What :func:`~streams.etl.parse_batch` returns.

    ``events`` follows :data:`~schemas.events.EVENT_SCHEMA`, in payload order; ``source_index[k]``
    is the index of the payload event ``k`` came from (int32, non-decreasing; one payload can yield
    several events). ``rejected`` holds one record per payload that yielded no event, in payload
    order. Every payload is in exactly one of the two.
    """

    events: pa.RecordBatch
    source_index: np.ndarray
    rejected: list[Rejected] = field(default_factory=list)

    @staticmethod
    def empty() -> ParsedBatch:
        return ParsedBatch(
            pa.RecordBatch.from_pylist([], schema=EVENT_SCHEMA), np.zeros(0, np.int32), []
        )


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """How payloads are read where the payload itself does not say.

    - ``default_host``: the entity of machine logs that name no host and have no caller-given
      host (dpkg, apt, RFC 5424 with ``-``); their ``host`` field stays null.
    - ``reference_ms``: "now" for RFC 3164 lines, which carry no year (UTC epoch ms; ``None``
      means the wall clock at each call). A 3164 time is put in the reference's year, or the
      year before when that would be more than 7 days after the end of the reference's UTC
      day (December lines read in January). Pass the same value offline and online to get
      identical events; the file readers pass the file's modification time.
    - ``naive_utc_offset_min``: the UTC offset (minutes) of times written without a zone (3164,
      dpkg, apt, Apache error logs). Default 0: such times are taken as UTC.
    - ``max_payload_bytes``: longer text payloads (a log line, one JSON document) are rejected
      unparsed. ``max_stanza_bytes`` is the same for one apt history stanza (a first install
      lists hundreds of packages), ``max_ipc_bytes`` for one Arrow IPC payload.
    """

    default_host: str = "localhost"
    reference_ms: int | None = None
    naive_utc_offset_min: int = 0
    max_payload_bytes: int = 65_536
    max_stanza_bytes: int = 4 * 1024 * 1024
    max_ipc_bytes: int = 256 * 1024 * 1024
