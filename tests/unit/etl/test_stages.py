"""One vocabulary for bad records: the typed error that refuses a record carries its
DeadLetterStage, the rejection and the dead letter keep that member, and text outputs write its
label (the same strings as before: ``parse``, ``validate``)."""

from __future__ import annotations

import json
import pickle

import pyarrow.parquet as pq
import pytest

from schemas import CodecError, DeadLetterStage, decode_dead_letter, encode_dead_letter
from streams.errors import StageError
from streams.etl import (
    EventValidationError,
    ParseError,
    RecordError,
    TopicOrigin,
    dead_letter_of,
    parse_batch,
)
from streams.etl.job import run_etl
from streams.etl.types import Rejected
from tests.unit.etl.conftest import OPTS


def _stage_error_classes() -> list[type[StageError]]:
    """StageError and every subclass of it that the imported packages define."""
    seen, todo = [], [StageError]
    while todo:
        cls = todo.pop()
        seen.append(cls)
        todo.extend(cls.__subclasses__())
    return seen


def _round_trip(rejected: Rejected):
    letter = dead_letter_of(rejected, key=b"k", record_time_ms=3, dead_time_ms=5)
    return letter, decode_dead_letter(encode_dead_letter(letter))


def test_every_typed_error_class_carries_a_stage_that_round_trips():
    classes = [cls for cls in _stage_error_classes() if cls is not StageError]
    assert {ParseError, EventValidationError, RecordError} <= set(classes)
    for cls in classes:
        assert isinstance(cls.stage, DeadLetterStage), cls
        exc = cls("reading a field: expected an int, got 'x' (str)")
        assert exc.stage is cls.stage
        rejected = Rejected.of(b"\xff raw", TopicOrigin("activity", 2, 40), exc)
        assert (rejected.stage, rejected.reason, rejected.error) == (
            cls.stage,
            str(exc),
            cls.__name__,
        )
        letter, back = _round_trip(rejected)
        assert back == letter and back.stage is cls.stage
        assert (back.source_topic, back.source_partition, back.source_offset) == ("activity", 2, 40)
    assert ParseError.stage is DeadLetterStage.PARSE
    assert EventValidationError.stage is DeadLetterStage.VALIDATE


@pytest.mark.parametrize("stage", list(DeadLetterStage))
def test_a_stage_given_where_the_error_is_raised_round_trips(stage):
    exc = StageError(f"{stage.label} of a batch of 3 events failed: RuntimeError: x", stage=stage)
    assert exc.stage is stage
    assert pickle.loads(pickle.dumps(exc)).stage is stage  # Spark and process pools copy errors
    rejected = Rejected.of(b"raw", TopicOrigin("raw-logs", 0, 7), exc)
    letter, back = _round_trip(rejected)
    assert back.stage is stage and back.reason == str(exc) and back == letter
    assert rejected.as_error().stage is stage
    assert DeadLetterStage.from_label(stage.label) is stage


def test_an_error_class_with_no_stage_must_be_given_one():
    with pytest.raises(TypeError, match=r"expected stage=<a DeadLetterStage>"):
        StageError("scoring failed")


def test_every_rejection_the_parsers_make_carries_an_enum_stage():
    payloads = [b"\xff junk", b'{"event_id": 1}', b"", b"{", b"<999>not syslog"]
    pb = parse_batch(payloads, "auto", TopicOrigin("raw", 0, 0), options=OPTS)
    assert len(pb.rejected) == len(payloads)
    stages = [r.stage for r in pb.rejected]
    assert all(type(s) is DeadLetterStage for s in stages)
    assert set(stages) == {DeadLetterStage.PARSE, DeadLetterStage.VALIDATE}
    for r in pb.rejected:
        assert _round_trip(r)[1].stage is r.stage
        assert type(r.as_error()).__name__ == r.error  # the error class that set the stage


def test_stage_labels_are_the_text_the_outputs_always_wrote():
    assert [s.label for s in DeadLetterStage] == [
        "unknown", "decode", "parse", "validate", "featurise", "score", "publish"
    ]  # fmt: skip
    for bad in ("Parse", "PARSE", "parsing", "", None, 2):
        with pytest.raises(CodecError, match="expected one of unknown, decode, parse"):
            DeadLetterStage.from_label(bad)


@pytest.mark.parametrize("rejected_format", ["jsonl", "parquet"])
def test_rejected_files_write_the_stage_labels(tmp_path, rejected_format):
    good = b'{"event_id": "e1", "user_id": "u1", "ts": 1763619901000, "type": "view"}'
    lines = [good, b"\xff junk", b'{"event_id": 1}']
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    result = run_etl([src], tmp_path / "out", rejected_format=rejected_format, features=False,
                     options=OPTS, progress=False)  # fmt: skip
    path = result.outputs["rejected"]
    if rejected_format == "jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
    else:
        rows = pq.read_table(path).to_pylist()
    assert [(r["stage"], r["error"]) for r in rows] == [
        ("parse", "ParseError"),
        ("validate", "EventValidationError"),
    ]
    assert [r.stage for r in result.first_rejected] == [
        DeadLetterStage.PARSE,
        DeadLetterStage.VALIDATE,
    ]
