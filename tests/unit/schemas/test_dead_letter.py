"""Dead letters keep the original bytes untouched and say where they came from and why."""

from __future__ import annotations

import pytest

from schemas import (
    CodecError,
    DeadLetter,
    DeadLetterStage,
    MessageKind,
    ScoreColumns,
    decode_dead_letter,
    encode_dead_letter,
    encode_score_batch,
    encode_score_results,
    message_kind,
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
