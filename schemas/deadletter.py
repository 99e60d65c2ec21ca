"""Dead letters (``schemas/deadletter.fbs``): a rejected record, untouched, with where and why.

A stage that cannot handle a record builds a :class:`DeadLetter` and publishes
:func:`encode_dead_letter` of it to the dead-letter topic; ``streamscore dlq`` reads them back
with :func:`decode_dead_letter` and can replay ``value``/``key`` to ``source_topic`` as they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import flatbuffers

from schemas.errors import CodecError
from schemas.generated import deadletter_generated as dl

__all__ = [
    "DEAD_LETTER_IDENTIFIER",
    "DeadLetter",
    "DeadLetterStage",
    "decode_dead_letter",
    "encode_dead_letter",
]

DEAD_LETTER_IDENTIFIER = b"SSDL"
"""file_identifier of deadletter.fbs: bytes 4..8 of every DeadLetter message."""


class DeadLetterStage(IntEnum):
    """The pipeline stage that rejected a record (the schema's ``Stage`` enum, same values)."""

    UNKNOWN = dl.Stage.Unknown
    DECODE = dl.Stage.Decode
    PARSE = dl.Stage.Parse
    VALIDATE = dl.Stage.Validate
    FEATURISE = dl.Stage.Featurise
    SCORE = dl.Stage.Score
    PUBLISH = dl.Stage.Publish


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One rejected record.

    ``value``/``key`` are the original record's bytes exactly as read (``None`` when the record
    had no value/key, e.g. a tombstone). ``source_partition``/``source_offset`` are -1 when the
    record did not come from Kafka. Times are UTC epoch milliseconds; ``record_time_ms`` (the
    original Kafka timestamp) is -1 when unknown. ``reason`` follows the project's error style:
    what was done, what was expected, what was found.
    """

    value: bytes | None
    source_topic: str
    stage: DeadLetterStage
    reason: str
    dead_time_ms: int
    key: bytes | None = None
    source_partition: int = -1
    source_offset: int = -1
    record_time_ms: int = -1


def encode_dead_letter(letter: DeadLetter) -> bytes:
    """The ``DeadLetter`` FlatBuffer (identifier ``SSDL``) of ``letter``.

    Raises :class:`CodecError` when a field has the wrong type or is out of its schema range.
    """
    _check(letter)
    size = (
        64
        + len(letter.value or b"")
        + len(letter.key or b"")
        + 4 * (len(letter.source_topic) + len(letter.reason))
    )
    builder = flatbuffers.Builder(size)
    value = None if letter.value is None else builder.CreateByteVector(letter.value)
    key = None if letter.key is None else builder.CreateByteVector(letter.key)
    topic = builder.CreateString(letter.source_topic)
    reason = builder.CreateString(letter.reason)
    dl.DeadLetterStart(builder)
    if value is not None:
        dl.DeadLetterAddValue(builder, value)
    if key is not None:
        dl.DeadLetterAddKey(builder, key)
    dl.DeadLetterAddSourceTopic(builder, topic)
    dl.DeadLetterAddSourcePartition(builder, letter.source_partition)
    dl.DeadLetterAddSourceOffset(builder, letter.source_offset)
    dl.DeadLetterAddStage(builder, int(letter.stage))
    dl.DeadLetterAddReason(builder, reason)
    dl.DeadLetterAddRecordTimeMs(builder, letter.record_time_ms)
    dl.DeadLetterAddDeadTimeMs(builder, letter.dead_time_ms)
    builder.Finish(dl.DeadLetterEnd(builder), file_identifier=DEAD_LETTER_IDENTIFIER)
    return bytes(builder.Output())


def decode_dead_letter(buffer: bytes) -> DeadLetter:
    """Decode a ``DeadLetter`` message. Raises :class:`CodecError` when it is not one.

    An unknown stage number (from a newer writer) decodes as ``DeadLetterStage.UNKNOWN``.
    """
    if len(buffer) < 8 or not dl.DeadLetter.DeadLetterBufferHasIdentifier(buffer, 0):
        raise CodecError(
            f"decoding DeadLetter: expected file identifier {DEAD_LETTER_IDENTIFIER!r} at bytes "
            f"4..8, found {bytes(buffer[4:8])!r} in a {len(buffer)}-byte message"
        )
    try:
        table = dl.DeadLetter.GetRootAs(buffer, 0)
        value = None if table.ValueIsNone() else bytes(table.ValueAsNumpy())
        key = None if table.KeyIsNone() else bytes(table.KeyAsNumpy())
        stage = table.Stage()
        return DeadLetter(
            value=value,
            key=key,
            source_topic=_text(table.SourceTopic()),
            source_partition=table.SourcePartition(),
            source_offset=table.SourceOffset(),
            stage=DeadLetterStage(stage)
            if stage in DeadLetterStage._value2member_map_
            else DeadLetterStage.UNKNOWN,
            reason=_text(table.Reason()),
            record_time_ms=table.RecordTimeMs(),
            dead_time_ms=table.DeadTimeMs(),
        )
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        # The generated reader does no bounds checks: a corrupt buffer shows up as these.
        raise CodecError(
            f"decoding DeadLetter: expected a valid {len(buffer)}-byte FlatBuffer, found {exc!r}"
        ) from exc


def _text(raw: bytes | None) -> str:
    return "" if raw is None else raw.decode("utf-8")


_INT_RANGES = {
    "dead_time_ms": 64,
    "source_partition": 32,
    "source_offset": 64,
    "record_time_ms": 64,
}


def _check(letter: DeadLetter) -> None:
    for name in ("value", "key"):
        raw = getattr(letter, name)
        if raw is not None and not isinstance(raw, bytes | bytearray | memoryview):
            raise CodecError(
                f"encoding DeadLetter: expected {name} to be bytes or None, "
                f"got {type(raw).__name__}"
            )
    for name in ("source_topic", "reason"):
        if not isinstance(getattr(letter, name), str):
            raise CodecError(
                f"encoding DeadLetter: expected {name} to be a str, "
                f"got {type(getattr(letter, name)).__name__}"
            )
    if not isinstance(letter.stage, DeadLetterStage):
        raise CodecError(
            f"encoding DeadLetter: expected stage to be a DeadLetterStage, got {letter.stage!r}"
        )
    for name, bits in _INT_RANGES.items():
        value = getattr(letter, name)
        limit = 1 << (bits - 1)
        if isinstance(value, bool) or not isinstance(value, int) or not -limit <= value < limit:
            raise CodecError(
                f"encoding DeadLetter: expected {name} to be an int{bits}, got {value!r}"
            )
