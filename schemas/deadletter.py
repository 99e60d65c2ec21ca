"""Dead letters (``schemas/deadletter.fbs``): a rejected record, untouched, with where and why.

A stage that cannot handle a record builds a :class:`DeadLetter` and publishes
:func:`encode_dead_letter` of it to the dead-letter topic; ``streamscore dlq`` reads them back
with :func:`decode_dead_letter` and can replay ``value``/``key`` to ``source_topic`` as they were.

A dead letter must always fit its topic, whatever the input topic accepted. So
:func:`encode_dead_letter` caps what it copies (:func:`cap_dead_letter`): a value longer than
``max_value_bytes`` (the setting ``dead_letter_max_value_bytes``, default
:data:`DEFAULT_MAX_VALUE_BYTES`) or a key longer than :data:`MAX_KEY_BYTES` is kept as its first
bytes, with the original's length and SHA-256 (``value_truncated``, ``original_value_length``,
``original_value_sha256``, and the same for the key), never dropped; a reason longer than
:data:`MAX_REASON_CHARS` is shortened. An encoded dead letter is then at most
``max_value_bytes + ENVELOPE_BYTES`` long, keyed by at most ``MAX_KEY_BYTES``: what
``streams.topics`` sizes the dead-letters topic for. A truncated letter cannot be replayed; the
original stays at ``source_topic``/``source_partition``/``source_offset`` while that topic keeps it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from enum import IntEnum

import flatbuffers

from schemas.errors import CodecError
from schemas.generated import deadletter_generated as dl

__all__ = [
    "DEAD_LETTER_IDENTIFIER",
    "DEFAULT_MAX_VALUE_BYTES",
    "ENVELOPE_BYTES",
    "MAX_KEY_BYTES",
    "MAX_REASON_CHARS",
    "DeadLetter",
    "DeadLetterStage",
    "cap_dead_letter",
    "decode_dead_letter",
    "encode_dead_letter",
]

DEAD_LETTER_IDENTIFIER = b"SSDL"
"""file_identifier of deadletter.fbs: bytes 4..8 of every DeadLetter message."""

DEFAULT_MAX_VALUE_BYTES = 1024 * 1024
"""Longest original value a dead letter keeps whole (the settings' default cap), in bytes."""

MAX_KEY_BYTES = 16 * 1024
"""Longest original key a dead letter keeps whole, in bytes (keys are entity ids: a longer one is
kept as its first bytes, length and SHA-256). The dead-letter record's own Kafka key is this
capped key too."""

MAX_REASON_CHARS = 4096
"""Longest reason a dead letter keeps, in characters; a longer one is cut and says so."""

ENVELOPE_BYTES = 128 * 1024
"""Upper bound, in bytes, on what a dead-letter record adds to its (capped) value: the key twice
(in the letter and as the record's key, at most ``MAX_KEY_BYTES`` each), the reason (at most
``4 * MAX_REASON_CHARS`` UTF-8 bytes), the origin (a topic name, or a file's ``path:line``:
at most 4 KiB on Linux), two SHA-256 digests, the FlatBuffers tables and Kafka's record
framing (about 70 bytes): 66 KiB at most, doubled for margin."""


class DeadLetterStage(IntEnum):
    """The pipeline stage that rejected a record (the schema's ``Stage`` enum, same values)."""

    UNKNOWN = dl.Stage.Unknown
    DECODE = dl.Stage.Decode
    PARSE = dl.Stage.Parse
    VALIDATE = dl.Stage.Validate
    FEATURISE = dl.Stage.Featurise
    SCORE = dl.Stage.Score
    PUBLISH = dl.Stage.Publish

    @property
    def label(self) -> str:
        """The stage as text outputs write it (``"parse"``, ``"validate"``, ...): the ``stage``
        column of rejected-records files, ``streamscore dlq``, metrics labels. The one place a
        stage becomes a string; :meth:`from_label` reads it back."""
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> DeadLetterStage:
        """The stage whose :attr:`label` is ``label``. Raises :class:`CodecError` for any other
        text."""
        member = cls.__members__.get(label.upper()) if isinstance(label, str) else None
        if member is None or member.label != label:
            raise CodecError(
                "reading a dead-letter stage: expected one of "
                f"{', '.join(s.label for s in cls)}, got {label!r}"
            )
        return member


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One rejected record.

    ``value``/``key`` are the original record's bytes exactly as read (``None`` when the record
    had no value/key, e.g. a tombstone). ``source_partition``/``source_offset`` are -1 when the
    record did not come from Kafka. Times are UTC epoch milliseconds; ``record_time_ms`` (the
    original Kafka timestamp) is -1 when unknown. ``reason`` follows the project's error style:
    what was done, what was expected, what was found.

    ``value_truncated`` says ``value`` holds only the first bytes of an original value of
    ``original_value_length`` bytes whose SHA-256 is ``original_value_sha256`` (64 lowercase hex
    digits); when it is false those two are -1 and ``None``. The ``key_*`` fields say the same
    of the key. :func:`cap_dead_letter` fills them in.
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
    value_truncated: bool = False
    original_value_length: int = -1
    original_value_sha256: str | None = None
    key_truncated: bool = False
    original_key_length: int = -1
    original_key_sha256: str | None = None

    @property
    def truncated(self) -> bool:
        """Whether the value or the key is only the first bytes of the original."""
        return self.value_truncated or self.key_truncated


def cap_dead_letter(
    letter: DeadLetter, max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES
) -> DeadLetter:
    """``letter`` with a value above ``max_value_bytes`` (or a key above :data:`MAX_KEY_BYTES`)
    cut to that many first bytes, recording the original's length and SHA-256, and a reason
    above :data:`MAX_REASON_CHARS` shortened. ``letter`` itself when nothing is over its cap.

    A letter that is already truncated keeps the length and SHA-256 of the first original.
    Raises :class:`CodecError` when ``max_value_bytes`` is negative.
    """
    if (
        isinstance(max_value_bytes, bool)
        or not isinstance(max_value_bytes, int)
        or max_value_bytes < 0
    ):
        raise CodecError(
            "capping a DeadLetter: expected max_value_bytes to be an int >= 0, "
            f"got {max_value_bytes!r}"
        )
    changes: dict[str, object] = {}
    for name, cap in (("value", max_value_bytes), ("key", MAX_KEY_BYTES)):
        raw = getattr(letter, name)
        if raw is None or len(raw) <= cap:
            continue
        raw = bytes(raw)
        changes[name] = raw[:cap]
        if not getattr(letter, f"{name}_truncated"):
            changes[f"{name}_truncated"] = True
            changes[f"original_{name}_length"] = len(raw)
            changes[f"original_{name}_sha256"] = hashlib.sha256(raw).hexdigest()
    if len(letter.reason) > MAX_REASON_CHARS:
        note = f" ... [reason cut from {len(letter.reason)} characters]"
        changes["reason"] = letter.reason[: MAX_REASON_CHARS - len(note)] + note
    return replace(letter, **changes) if changes else letter


def encode_dead_letter(
    letter: DeadLetter, *, max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES
) -> bytes:
    """The ``DeadLetter`` FlatBuffer (identifier ``SSDL``) of ``letter``, capped first.

    What is over its cap is cut by :func:`cap_dead_letter` (so the encoded letter is at most
    ``max_value_bytes + ENVELOPE_BYTES`` long); encode :func:`cap_dead_letter` of a letter
    yourself to know what was written, e.g. the capped key to key its record with. Raises
    :class:`CodecError` when a field has the wrong type or is out of its schema range, or when
    the truncation fields contradict each other.
    """
    _check(letter)
    letter = cap_dead_letter(letter, max_value_bytes)
    size = (
        128
        + len(letter.value or b"")
        + len(letter.key or b"")
        + 4 * (len(letter.source_topic) + len(letter.reason))
    )
    builder = flatbuffers.Builder(size)
    value = None if letter.value is None else builder.CreateByteVector(bytes(letter.value))
    key = None if letter.key is None else builder.CreateByteVector(bytes(letter.key))
    topic = builder.CreateString(letter.source_topic)
    reason = builder.CreateString(letter.reason)
    value_sha = (
        None
        if letter.original_value_sha256 is None
        else builder.CreateString(letter.original_value_sha256)
    )
    key_sha = (
        None
        if letter.original_key_sha256 is None
        else builder.CreateString(letter.original_key_sha256)
    )
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
    if letter.value_truncated:
        dl.DeadLetterAddValueTruncated(builder, True)
        dl.DeadLetterAddOriginalValueLength(builder, letter.original_value_length)
        dl.DeadLetterAddOriginalValueSha256(builder, value_sha)
    if letter.key_truncated:
        dl.DeadLetterAddKeyTruncated(builder, True)
        dl.DeadLetterAddOriginalKeyLength(builder, letter.original_key_length)
        dl.DeadLetterAddOriginalKeySha256(builder, key_sha)
    builder.Finish(dl.DeadLetterEnd(builder), file_identifier=DEAD_LETTER_IDENTIFIER)
    return bytes(builder.Output())


def decode_dead_letter(buffer: bytes) -> DeadLetter:
    """Decode a ``DeadLetter`` message. Raises :class:`CodecError` when it is not one.

    An unknown stage number (from a newer writer) decodes as ``DeadLetterStage.UNKNOWN``. A
    letter from a writer older than the truncation fields decodes as not truncated.
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
            **_truncation(table),
        )
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        # The generated reader does no bounds checks: a corrupt buffer shows up as these.
        raise CodecError(
            f"decoding DeadLetter: expected a valid {len(buffer)}-byte FlatBuffer, found {exc!r}"
        ) from exc


def _text(raw: bytes | None) -> str:
    return "" if raw is None else raw.decode("utf-8")


def _truncation(table: dl.DeadLetter) -> dict[str, object]:
    out: dict[str, object] = {}
    if table.ValueTruncated():
        out["value_truncated"] = True
        out["original_value_length"] = table.OriginalValueLength()
        out["original_value_sha256"] = _text(table.OriginalValueSha256())
    if table.KeyTruncated():
        out["key_truncated"] = True
        out["original_key_length"] = table.OriginalKeyLength()
        out["original_key_sha256"] = _text(table.OriginalKeySha256())
    return out


_INT_RANGES = {
    "dead_time_ms": 64,
    "source_partition": 32,
    "source_offset": 64,
    "record_time_ms": 64,
    "original_value_length": 64,
    "original_key_length": 64,
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
    for name in ("value", "key"):
        _check_truncation(letter, name)


def _check_truncation(letter: DeadLetter, name: str) -> None:
    truncated = getattr(letter, f"{name}_truncated")
    length = getattr(letter, f"original_{name}_length")
    digest = getattr(letter, f"original_{name}_sha256")
    if not isinstance(truncated, bool):
        raise CodecError(
            f"encoding DeadLetter: expected {name}_truncated to be a bool, got {truncated!r}"
        )
    if not truncated:
        if length != -1 or digest is not None:
            raise CodecError(
                f"encoding DeadLetter: expected original_{name}_length -1 and "
                f"original_{name}_sha256 None for a {name} that is not truncated, "
                f"got {length!r} and {digest!r}"
            )
        return
    kept = len(getattr(letter, name) or b"")
    if length < kept:
        raise CodecError(
            f"encoding DeadLetter: expected original_{name}_length of a truncated {name} to be "
            f"at least the {kept} bytes kept, got {length}"
        )
    if not (
        isinstance(digest, str)
        and len(digest) == 64
        and all(c in "0123456789abcdef" for c in digest)
    ):
        raise CodecError(
            f"encoding DeadLetter: expected original_{name}_sha256 of a truncated {name} to be "
            f"64 lowercase hex digits, got {digest!r}"
        )
