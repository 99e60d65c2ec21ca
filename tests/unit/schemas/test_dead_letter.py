"""Dead letters keep the original bytes untouched and say where they came from and why."""

from __future__ import annotations

import pytest

from schemas import (
    CodecError,
    DeadLetter,
    DeadLetterStage,
    MessageKind,
    ScoreColumns,
    cap_dead_letter,
    decode_dead_letter,
    encode_dead_letter,
    encode_score_batch,
    encode_score_results,
    message_kind,
)
from schemas.deadletter import (
    DEFAULT_MAX_VALUE_BYTES,
    ENVELOPE_BYTES,
    MAX_KEY_BYTES,
    MAX_REASON_CHARS,
)
from schemas.generated import deadletter_generated as dl


def letter(**overrides) -> DeadLetter:
    base = dict(
        value=b'{"user_id": "u1", "ts": "yesterday"}',
        source_topic="activity",
        stage=DeadLetterStage.VALIDATE,
        reason=(
            "activity event field 'ts': expected epoch milliseconds (int), got 'yesterday' (str)"
        ),
        dead_time_ms=1_700_000_000_123,
        key=b"u1",
        source_partition=4,
        source_offset=99,
        record_time_ms=1_700_000_000_000,
    )
    base.update(overrides)
    return DeadLetter(**base)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"value": bytes(range(256)) * 4000},  # 1 MB of every byte value
        {"value": b"", "key": b""},
        {"value": None, "key": None},  # a tombstone, no key
        {"source_partition": -1, "source_offset": -1, "record_time_ms": -1, "source_topic": ""},
        {"reason": "ünïcödé 😀 \x00 reason", "source_topic": "raw-logs"},
        {"source_offset": 2**63 - 1, "dead_time_ms": -(2**63), "source_partition": 2**31 - 1},
    ],
)
def test_round_trip(overrides):
    original = letter(**overrides)
    assert decode_dead_letter(encode_dead_letter(original)) == original


def test_every_stage_round_trips_and_matches_schema_enum():
    for stage in DeadLetterStage:
        back = decode_dead_letter(encode_dead_letter(letter(stage=stage)))
        assert back.stage is stage
        assert DeadLetterStage.from_label(stage.label) is stage  # its text form, and back
    schema_names = {k for k in vars(dl.Stage) if not k.startswith("_")}
    assert {s.name.title() for s in DeadLetterStage} == schema_names


def test_value_bytes_are_untouched_in_the_buffer():
    value = b"\xff\xfe not utf-8 \x00"
    buffer = encode_dead_letter(letter(value=value))
    assert value in buffer
    assert buffer[4:8] == b"SSDL"


def test_unknown_stage_from_newer_writer_decodes_as_unknown():
    import flatbuffers

    builder = flatbuffers.Builder(64)
    topic = builder.CreateString("t")
    dl.DeadLetterStart(builder)
    dl.DeadLetterAddSourceTopic(builder, topic)
    dl.DeadLetterAddStage(builder, 200)
    builder.Finish(dl.DeadLetterEnd(builder), file_identifier=b"SSDL")
    back = decode_dead_letter(bytes(builder.Output()))
    assert back.stage is DeadLetterStage.UNKNOWN
    assert back.value is None and back.reason == "" and back.source_offset == -1
    # A writer older than the truncation fields: nothing truncated.
    assert not back.truncated and back.original_value_length == -1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"value": "text"}, "expected value to be bytes or None"),
        ({"stage": 3}, "expected stage to be a DeadLetterStage"),
        ({"source_partition": 2**31}, "expected source_partition to be an int32"),
        ({"dead_time_ms": 1.5}, "expected dead_time_ms to be an int64"),
        ({"reason": None}, "expected reason to be a str"),
    ],
)
def test_bad_fields_are_rejected(overrides, message):
    with pytest.raises(CodecError, match=message):
        encode_dead_letter(letter(**overrides))


def test_other_messages_are_rejected():
    with pytest.raises(CodecError, match="expected file identifier b'SSDL'"):
        decode_dead_letter(b"\x08\x00\x00\x00SSR1\x00\x00\x00\x00")
    with pytest.raises(CodecError):
        decode_dead_letter(b"")


def test_message_kind_tells_our_messages_apart():
    cols = ScoreColumns("m", "1", ["e"], ["u"], [0.5], [True], [False], ["m@1"], [1], [2])
    assert message_kind(encode_dead_letter(letter())) is MessageKind.DEAD_LETTER
    assert message_kind(encode_score_results(cols)[0]) is MessageKind.SCORE_RESULT
    assert message_kind(encode_score_batch(cols)) is MessageKind.SCORE_BATCH
    with pytest.raises(CodecError, match="found b'JSON'"):
        message_kind(b'{"a"JSON}')
    with pytest.raises(CodecError, match="0-byte message"):
        message_kind(b"")


# --- values and keys above the cap: first bytes + original length + SHA-256 -----------------


def test_value_above_the_cap_keeps_its_first_bytes_length_and_sha256():
    import hashlib
    import os

    original = os.urandom(3 * 1024 * 1024 + 7)
    buffer = encode_dead_letter(letter(value=original), max_value_bytes=1024 * 1024)
    back = decode_dead_letter(buffer)
    assert back.value == original[: 1024 * 1024]
    assert back.value_truncated and back.truncated and not back.key_truncated
    assert back.original_value_length == len(original)
    assert back.original_value_sha256 == hashlib.sha256(original).hexdigest()
    assert back.key == b"u1" and back.original_key_length == -1 and back.original_key_sha256 is None
    assert len(buffer) <= 1024 * 1024 + ENVELOPE_BYTES
    # What was decoded is what cap_dead_letter said would be written, and it encodes again as is.
    assert back == cap_dead_letter(letter(value=original), 1024 * 1024)
    assert decode_dead_letter(encode_dead_letter(back)) == back


def test_value_at_the_cap_is_kept_whole_and_the_default_cap_is_one_mib():
    assert DEFAULT_MAX_VALUE_BYTES == 1024 * 1024
    whole = b"x" * DEFAULT_MAX_VALUE_BYTES
    back = decode_dead_letter(encode_dead_letter(letter(value=whole)))
    assert back.value == whole and not back.value_truncated
    back = decode_dead_letter(encode_dead_letter(letter(value=whole + b"y")))
    assert back.value == whole and back.value_truncated
    assert back.original_value_length == DEFAULT_MAX_VALUE_BYTES + 1


def test_key_above_its_cap_and_a_huge_reason_are_cut_too():
    import hashlib

    key = b"k" * (MAX_KEY_BYTES + 1)
    back = decode_dead_letter(encode_dead_letter(letter(key=key, reason="r" * 100_000)))
    assert back.key == key[:MAX_KEY_BYTES] and back.key_truncated and back.truncated
    assert back.original_key_length == len(key)
    assert back.original_key_sha256 == hashlib.sha256(key).hexdigest()
    assert not back.value_truncated and back.value == letter().value
    assert len(back.reason) == MAX_REASON_CHARS
    assert back.reason.startswith("rrrr") and back.reason.endswith("cut from 100000 characters]")


def test_worst_case_dead_letter_fits_cap_plus_envelope():
    # The dead-letters topic is sized for this bound (streams.topics.DEAD_LETTER_MESSAGE_BYTES):
    # the record's key (the capped key) plus the encoded letter.
    cap = 2 * 1024 * 1024
    worst = letter(
        value=b"v" * (3 * cap),
        key=b"k" * (10 * MAX_KEY_BYTES),
        reason="\U0001f600" * (10 * MAX_REASON_CHARS),  # 4 UTF-8 bytes each
        source_topic="/" + "\U0001f600" * 1023 + ":1",  # a file origin of a 4 KiB path
    )
    capped = cap_dead_letter(worst, cap)
    assert len(capped.key) + len(encode_dead_letter(worst, max_value_bytes=cap)) <= (
        cap + ENVELOPE_BYTES
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"value_truncated": True, "original_value_length": 100},
            "expected original_value_sha256 of a truncated value",
        ),
        (
            {
                "value_truncated": True,
                "original_value_length": 3,
                "original_value_sha256": "0" * 64,
            },
            "to be at least the 36 bytes kept",
        ),
        ({"original_value_sha256": "0" * 64}, "for a value that is not truncated"),
        ({"key_truncated": 1}, "expected key_truncated to be a bool"),
        (
            {"key_truncated": True, "original_key_length": 99, "original_key_sha256": "XYZ"},
            "64 lowercase hex digits, got 'XYZ'",
        ),
    ],
)
def test_contradicting_truncation_fields_are_rejected(overrides, message):
    with pytest.raises(CodecError, match=message):
        encode_dead_letter(letter(**overrides))


def test_a_negative_cap_is_rejected():
    with pytest.raises(CodecError, match="expected max_value_bytes to be an int >= 0, got -1"):
        encode_dead_letter(letter(), max_value_bytes=-1)
