"""Parsing and validation: raw payloads (log lines, JSON, Arrow IPC) and files -> normalised events.

Pure functions, no Kafka: the stream layer (``streams.pipeline.processor``) calls
:func:`parse_batch` on micro-batches of record values and turns each :class:`Rejected` into a
dead letter with :func:`dead_letter_of`, the one builder of dead letters, which callers outside
the pipeline use too; the
offline path reads files with :func:`read_file` (or runs :func:`run_etl`, the
``streamscore etl`` job, which writes rejections as :func:`rejected_record` rows), and gets
the same events for the same lines.

The rules every format follows (details in each parser module's docstring):

- ``ts_ms`` is UTC epoch ms; times written without a zone are taken at
  ``ParseOptions.naive_utc_offset_min`` (default UTC); RFC 3164's missing year comes from
  ``ParseOptions.reference_ms``. Event times outside 2000..2100 are rejected (``validate``).
- ``entity`` is the user id when there is one (activity, an authenticated web user), else the
  host: the line's own, else the caller-given ``hosts[i]`` (the raw-logs record key), else
  ``ParseOptions.default_host``; the ``host`` field holds only the first two (null otherwise).
- ``"auto"`` detects each payload's format from its first bytes; a payload the detected parser
  refuses is tried as the other formats its start fits, and its reason names what it looked
  like and every format tried. Reasons read "what: expected ..., got ..." throughout.
- ``event_id`` is the producer's id for activity; for logs it is the 80-bit BLAKE2b of the
  payload bytes (20 hex chars), plus ``.k`` for the k-th event of a multi-event payload (an apt
  stanza). Content, not origin: a line read from a file or a topic gets the same id.
- Limits: 64 KiB per text payload (4 MiB per apt stanza, 256 MiB per Arrow IPC payload),
  256 characters per activity id, 16 KiB of activity properties JSON.
- One payload -> at least one event, or exactly one :class:`Rejected`; never an exception.
- A topic takes only its own kinds (:class:`TopicKind`): the activity topic activity JSON and
  Arrow IPC, the raw-logs topic log lines and Logstash documents; anything else is rejected.
"""

from streams.etl.batch import parse_batch
from streams.etl.deadletters import dead_letter_of
from streams.etl.detect import topic_kind_of
from streams.etl.errors import EventValidationError, InputFormatError, ParseError, RecordError
from streams.etl.files import detect_file_kind, read_file
from streams.etl.types import (
    FileOrigin,
    InputFormat,
    ParsedBatch,
    ParseOptions,
    Rejected,
    TopicKind,
    TopicOrigin,
)

__all__ = [
    "EventValidationError",
    "FileOrigin",
    "InputFormat",
    "InputFormatError",
    "ParseError",
    "ParseOptions",
    "ParsedBatch",
    "RecordError",
    "Rejected",
    "TopicKind",
    "TopicOrigin",
    "dead_letter_of",
    "detect_file_kind",
    "parse_batch",
    "read_file",
    "topic_kind_of",
]
