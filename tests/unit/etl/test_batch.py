"""parse_batch as a whole: auto detection, ordering, and the bad-input corpus."""

from __future__ import annotations

import random

import numpy as np
import pytest

from schemas.deadletter import DeadLetterStage
from streams.etl import (
    EventValidationError,
    InputFormatError,
    ParseError,
    RecordError,
    TopicOrigin,
    parse_batch,
)
from tests.support.etl_inputs import BAD_CORPUS
from tests.unit.etl.conftest import OPTS, SAMPLES, fixture_lines, parse

FIXTURE_FORMATS = {
    "syslog3164.log": "syslog3164",
    "syslog3164_tags.log": "syslog3164",
    "syslog5424.log": "syslog5424",
    "dpkg.log": "dpkg",
    "access.log": "access_log",
    "apache_error.log": "apache_error",
    "activity.jsonl": "activity",
}


def test_auto_detects_every_fixture_format_like_the_explicit_format():
    for name, fmt in FIXTURE_FORMATS.items():
        lines = fixture_lines(name)
        explicit = parse(lines, fmt)
        auto = parse(lines, "auto")
        assert not auto.rejected, (name, auto.rejected)
        assert auto.events.equals(explicit.events), name


def test_mixed_batch_keeps_payload_order_across_formats():
    mixed: list[bytes] = []
    for name in FIXTURE_FORMATS:
        mixed.extend(fixture_lines(name))
    rng = random.Random(7)
    rng.shuffle(mixed)
    pb = parse(mixed, "auto")
    assert not pb.rejected
    assert pb.source_index.tolist() == list(range(len(mixed)))
    one_by_one = [parse([m], "auto").events.to_pylist()[0] for m in mixed]
    assert pb.events.to_pylist() == one_by_one


@pytest.mark.parametrize("fmt", ["auto", "syslog", "dpkg", "access_log", "apache_error",
                                 "activity", "logstash", "apt_history", "arrow"])  # fmt: skip
def test_bad_corpus_every_payload_is_one_typed_rejection(fmt):
    payloads = [p for p, _ in BAD_CORPUS]
    pb = parse(payloads, fmt)  # parse() asserts every payload is accounted for exactly once
    assert pb.events.num_rows == 0
    assert len(pb.rejected) == len(payloads)
    for rej in pb.rejected:
        err = rej.as_error()
        assert isinstance(err, RecordError) and isinstance(err, ValueError)
        expected = EventValidationError if rej.stage is DeadLetterStage.VALIDATE else ParseError
        assert isinstance(err, expected)
        assert rej.error in ("ParseError", "EventValidationError")


def test_bad_corpus_reasons_in_auto_mode():
    pb = parse([p for p, _ in BAD_CORPUS], "auto")
    for rej, (_payload, expected) in zip(pb.rejected, BAD_CORPUS, strict=True):
        assert expected in rej.reason, (rej.raw[:60], rej.reason)


def test_good_lines_survive_among_bad_ones():
    good = fixture_lines("syslog3164.log") + fixture_lines("activity.jsonl")
    bad = [p for p, _ in BAD_CORPUS]
    mixed = [x for pair in zip(good, bad, strict=False) for x in pair] + bad[len(good) :]
    pb = parse(mixed, "auto")
    assert pb.events.num_rows == len(good)
    assert len(pb.rejected) == len(bad)


def test_mutated_fixture_lines_never_raise():
    lines = [x for name in FIXTURE_FORMATS for x in fixture_lines(name)]
    lines += (SAMPLES / "logstash_dpkg.jsonl").read_bytes().splitlines()
    rng = random.Random(1234)
    mutated = []
    for _ in range(3000):
        b = bytearray(rng.choice(lines))
        for _ in range(rng.randrange(1, 4)):
            op = rng.randrange(3)
            pos = rng.randrange(len(b) + 1)
            if op == 0 and b:
                del b[pos % len(b)]
            elif op == 1:
                b.insert(pos, rng.randrange(256))
            else:
                b = b[:pos]
        mutated.append(bytes(b))
    for fmt in ("auto", "syslog", "activity", "logstash", "dpkg"):
        pb = parse(mutated, fmt)
        assert pb.events.num_rows + len(pb.rejected) >= len(mutated)


def test_topic_origins_and_per_payload_origin_lists():
    pb = parse_batch([b"ok?", b"Oct 11 22:14:15 h p: m", b""], "auto", TopicOrigin("raw", 3, 100),
                     options=OPTS)  # fmt: skip
    assert [str(r.origin) for r in pb.rejected] == ["raw[3]@100", "raw[3]@102"]
    origins = [TopicOrigin("raw", 0, 7), TopicOrigin("raw", 1, 3)]
    pb = parse_batch([b"", b""], "auto", origins, options=OPTS)
    assert [r.origin for r in pb.rejected] == origins


def test_unknown_format_is_a_caller_error():
    with pytest.raises(InputFormatError, match="expected one of auto, syslog"):
        parse_batch([b"x"], "cobol", TopicOrigin("t", 0, 0))


def test_empty_batch():
    pb = parse_batch([], "auto", TopicOrigin("t", 0, 0))
    assert pb.events.num_rows == 0 and pb.rejected == [] and pb.source_index.dtype == np.int32


def test_non_bytes_payloads_are_rejected_not_raised():
    payloads = [None, "a str", bytearray(b"Oct 11 22:14:15 h p: m"), memoryview(b"{}"), 17]
    pb = parse_batch(payloads, "auto", TopicOrigin("t", 0, 0), options=OPTS)  # type: ignore[arg-type]
    assert pb.source_index.tolist() == [2]
    reasons = [r.reason for r in pb.rejected]
    assert reasons[0] == "payload: expected bytes, got None (a tombstone record)"
    assert reasons[1] == "payload: expected bytes, got str"
    assert "field 'event_id'" in reasons[2] and pb.rejected[2].raw == b"{}"
    assert reasons[3] == "payload: expected bytes, got int"
    assert [r.origin.offset for r in pb.rejected] == [0, 1, 3, 4]


def test_a_row_that_does_not_fit_the_schema_is_rejected_not_raised():
    from streams.etl._sink import Sink

    payloads = [b"a", b"b", b"c"]
    sink = Sink(payloads, TopicOrigin("t", 0, 0))
    good = (1_763_619_901_000, "h", "dpkg", "log") + (None,) * 10
    bad = good[:7] + (2**40,) + good[8:]  # pid beyond int32
    sink.rows += [good, bad, good, good]
    sink.ids += ["a", "b.0", "b.1", "c"]
    sink.src += [0, 1, 1, 2]
    pb = sink.finish()
    assert pb.source_index.tolist() == [0, 2]  # payload 1 is all-or-nothing: both rows go
    assert pb.events.column("event_id").to_pylist() == ["a", "c"]
    assert pb.rejected[0].origin.offset == 1 and "does not fit" in pb.rejected[0].reason


def test_rejections_become_decodable_dead_letters():
    from schemas.deadletter import decode_dead_letter, encode_dead_letter
    from streams.etl import FileOrigin, dead_letter_of

    pb = parse_batch([b"\xff junk", b'{"event_id": 1}'], "auto", TopicOrigin("raw", 2, 40),
                     options=OPTS)  # fmt: skip
    letters = [dead_letter_of(r, key=b"k", dead_time_ms=5) for r in pb.rejected]
    back = [decode_dead_letter(encode_dead_letter(x)) for x in letters]
    assert [b.value for b in back] == [b"\xff junk", b'{"event_id": 1}']
    assert [(b.source_topic, b.source_partition, b.source_offset) for b in back] == [
        ("raw", 2, 40), ("raw", 2, 41)
    ]  # fmt: skip
    assert [b.stage for b in back] == [DeadLetterStage.PARSE, DeadLetterStage.VALIDATE]
    assert back[1].reason == pb.rejected[1].reason and back[0].key == b"k"
    from_file = parse_batch([b""], "auto", FileOrigin("a.log", 7), options=OPTS).rejected[0]
    letter = dead_letter_of(from_file, dead_time_ms=1)
    assert (letter.source_topic, letter.source_offset) == ("a.log:7", -1)


N = 60_000
ADVERSARIAL = [
    b"<34>1 2003-10-11T22:14:15Z h a - - [" + b"a" * N,
    b"<34>1 2003-10-11T22:14:15Z h a - - " + b'[x a="b"]' * (N // 9) + b"x",
    b'<34>1 2003-10-11T22:14:15Z h a - - [x a="' + b'\\"' * (N // 2),
    b"<34>Oct 11 22:14:15 h a" + b"[" * N,
    b'1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "' + b'\\"' * (N // 2),
    b"[Wed Oct 11 14:32:52 2000] [error] [client " + b"[" * N,
    b"2015-06-10 13:37:10 status " + b" " * N,
    b"Start-Date: 2025-06-24  14:36:25\nInstall: " + b"a (" * 1_000_000,  # 3 MB stanza
    b"2025-11-20T06:25:06." + b"1" * N,
]


@pytest.mark.timeout(120)  # a guard against regex backtracking blow-ups, not a benchmark
def test_adversarial_lines_finish_and_are_accounted_for():
    pb = parse(ADVERSARIAL, "auto")
    assert pb.events.num_rows + len(pb.rejected) >= len(ADVERSARIAL)


def test_origin_list_of_the_wrong_length_is_a_caller_error():
    with pytest.raises(InputFormatError, match="origins: expected"):
        parse_batch([b"a", b"b"], "auto", [TopicOrigin("t", 0, 0)])


ACTIVITY_JSON = b'{"event_id": "e1", "user_id": "u1", "ts": 1780000000000, "type": "login"}'
DPKG_LINE = b"2026-05-28 11:00:00 status installed cowsay:all 3.03"
SYSLOG_LINE = b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8"
LOGSTASH_DOC = (
    b'{"message": "hello", "@version": "1", "@timestamp": "2026-05-28T12:00:01.108Z", "host": "h1"}'
)


def _arrow_payload() -> bytes:
    import pyarrow as pa

    from tests.support.workload import ARROW_SCHEMA

    table = pa.Table.from_pylist(
        [{"event_id": "a1", "user_id": "u1", "ts": 1780000000000, "type": "login"}],
        schema=ARROW_SCHEMA,
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def test_each_topic_kind_takes_only_its_own_formats():
    """Auto-detection no longer lets a log line be scored as activity or the reverse: each
    payload of another kind is exactly one rejection that names what the topic takes."""
    arrow = _arrow_payload()
    payloads = [ACTIVITY_JSON, arrow, DPKG_LINE, SYSLOG_LINE, LOGSTASH_DOC, b"\xff\xfe junk"]
    origin = TopicOrigin("t", 0, 0)
    on_activity = parse_batch(payloads, "auto", origin, options=OPTS, kind="activity")
    assert on_activity.source_index.tolist() == [0, 1]
    assert [r.origin.offset for r in on_activity.rejected] == [2, 3, 4, 5]
    for r in on_activity.rejected:
        assert r.stage is DeadLetterStage.PARSE
        assert r.reason.startswith(
            "payload on the activity topic: expected activity JSON "
            "events or Arrow IPC batches of them, got "
        )
    assert "got a dpkg.log line '2026-05-28" in on_activity.rejected[0].reason
    assert "got a Logstash JSON document" in on_activity.rejected[2].reason

    on_logs = parse_batch(
        payloads, "auto", origin, options=OPTS, kind="logs", hosts=["h"] * len(payloads)
    )
    assert sorted(set(on_logs.source_index.tolist())) == [2, 3, 4]
    assert [r.origin.offset for r in on_logs.rejected] == [0, 1, 5]
    assert on_logs.rejected[0].reason.startswith(
        "payload on the raw-logs topic: expected log lines (syslog RFC 3164/5424, dpkg, apt "
        "history, access log, Apache error log) or Logstash JSON documents, got activity JSON"
    )
    assert "got an Arrow IPC payload" in on_logs.rejected[1].reason
    assert "not valid UTF-8" in on_logs.rejected[2].reason  # a log line, but not text

    anything = parse_batch(payloads, "auto", origin, options=OPTS)  # files, tools: any kind
    assert sorted(set(anything.source_index.tolist())) == [0, 1, 2, 3, 4]


def test_a_format_the_topic_kind_does_not_take_is_a_caller_error():
    with pytest.raises(InputFormatError, match="an activity topic takes"):
        parse_batch([DPKG_LINE], "dpkg", TopicOrigin("t", 0, 0), kind="activity")
    with pytest.raises(InputFormatError, match="topic kind: expected one of any, activity"):
        parse_batch([DPKG_LINE], "auto", TopicOrigin("t", 0, 0), kind="metrics")


def test_the_cheap_5424_test_agrees_with_the_regex():
    """``is_5424_head`` refuses most lines before its regex; it must decide as the regex does,
    Unicode digits (which ``\\d`` matches) included."""
    from streams.etl.detect import _RE_5424_HEAD, is_5424_head

    heads = ["<1>1 ", "<12>1 ", "<123>12 ", "<1234>1 ", "<>1 ", "<1>", "<1>1", "<1>123 ",
             "<1>\u0661 ", "<\u0662\u0663>1 ", "<1>\u00b2 ", "<13>Oct 25", "<1> 1 ", "<1>>1 ",
             "<", "", "<12>1x", "<12>12 rest", "<999>99 "]  # fmt: skip
    rng = random.Random(5)
    alphabet = "<>0123456789 \u0661x"

    def noise() -> str:
        return "<" * rng.randrange(2) + "".join(
            rng.choice(alphabet) for _ in range(rng.randrange(9))
        )

    heads += [noise() for _ in range(5000)]
    for text in heads:
        assert is_5424_head(text) == (_RE_5424_HEAD.match(text) is not None), text
