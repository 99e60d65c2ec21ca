from __future__ import annotations

import json

import orjson
import pyarrow as pa
import pytest

from schemas.deadletter import DeadLetterStage
from schemas.events import EVENT_SCHEMA
from tests.unit.etl.conftest import fixture_lines, parse

GOOD = {"event_id": "e1", "user_id": "u1", "ts": 1_763_619_901_000, "type": "login"}


def _j(**kw) -> bytes:
    return orjson.dumps({**GOOD, **kw})


def ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue().to_pybytes()


def test_activity_fixture_events():
    pb = parse(fixture_lines("activity.jsonl"), "activity")
    assert not pb.rejected
    ev = pb.events.to_pylist()
    assert [e["event_id"] for e in ev] == [f"e-000{k}" for k in range(1, 8)]
    assert ev[0]["entity"] == "u-17" == ev[0]["user_id"] and ev[0]["source"] == "activity"
    assert ev[1]["event_type"] == "view" and ev[1]["ts_ms"] == 1763619902500
    assert ev[1]["properties"] == '{"page":"/pricing","ms_on_page":5400}'
    assert ev[0]["properties"] is None and ev[5]["properties"] is None


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (_j(ts="2015-06-10"),
         "activity event field 'ts': expected epoch milliseconds (int), got '2015-06-10' (str)"),
        (_j(ts=1.5e12), "field 'ts': expected epoch milliseconds (int), got 1500000000000.0"),
        (_j(ts=True), "field 'ts': expected epoch milliseconds (int), got True (bool)"),
        (_j(ts=1_000), "expected an event time in 2000-01-01..2100-01-01 UTC, got 1970"),
        (_j(ts=1_763_619_901_000_000), "2000-01-01..2100-01-01 UTC, got 1763619901000000 ms"),
        (_j(type="logout"), "field 'type': expected one of login, session_end"),
        (_j(type=["login"]), "field 'type': expected one of"),
        (_j(user_id=""), "field 'user_id': expected a string of 1..256 characters, got ''"),
        (_j(user_id=17), "field 'user_id': expected a string of 1..256 characters, got 17 (int)"),
        (_j(event_id="x" * 300), "field 'event_id': expected a string of 1..256 characters"),
        (_j(properties=[1, 2]), "field 'properties': expected a JSON object or null, got [1, 2]"),
        (_j(properties={"blob": "x" * 20_000}), "expected at most 16384 bytes of JSON"),
        (_j(extra=1), "expected only fields event_id, user_id, ts, type, properties; got "
                      "unexpected 'extra'"),
        (orjson.dumps({"user_id": "u", "ts": 1763619901000, "type": "view"}),
         "field 'event_id': expected a string of 1..256 characters, got nothing (field missing)"),
        (b"[1, 2, 3]", "activity event: expected a JSON object, got [1, 2, 3] (list)"),
        (b'{"event_id": "e", "ts": NaN}', "invalid JSON"),
        (json.dumps({**GOOD, "ts": float("inf")}).encode(), "invalid JSON"),
        (b'{"event_id": "e1", "user_id": "u1", "ts": 1e400, "type": "view"}', "infinity"),
        (b'{"event_id": "e1", "user_id"', "invalid JSON"),
        (b"", "invalid JSON"),
        (b'{"event_id": "\xff\xfe", "user_id": "u", "ts": 1763619901000, "type": "view"}',
         "invalid JSON"),
    ],
)  # fmt: skip
def test_activity_validation_messages(payload, expected):
    pb = parse([payload], "activity")
    assert pb.events.num_rows == 0
    (rej,) = pb.rejected
    assert expected in rej.reason
    assert rej.raw == payload
    err = rej.as_error()
    assert isinstance(err, ValueError) and str(err).startswith("mem:1: ")


def test_huge_payload_is_rejected_before_parsing():
    big = _j(properties={"x": "y" * 70_000})
    pb = parse([big], "activity")
    assert "payload: expected at most 65536 bytes, got" in pb.rejected[0].reason


def test_arrow_ipc_bulk_payload_matches_json_path():
    lines = fixture_lines("activity.jsonl")
    docs = [orjson.loads(x) for x in lines]
    table = pa.table({
        "event_id": [d["event_id"] for d in docs],
        "user_id": pa.array([d["user_id"] for d in docs]).dictionary_encode(),
        "ts": pa.array([d["ts"] for d in docs], pa.timestamp("ms", "UTC")),
        "type": [d["type"] for d in docs],
        "properties": [json.dumps(d["properties"], indent=1) if d.get("properties") else None
                       for d in docs],
    })  # fmt: skip
    payload = ipc(table)
    via_ipc = parse([b"junk", payload, lines[0]], "auto")
    via_json = parse(lines, "activity")
    assert via_ipc.source_index.tolist() == [1] * 7 + [2]
    assert via_ipc.events.slice(0, 7).equals(via_json.events)
    assert via_ipc.events.schema == EVENT_SCHEMA
    assert via_ipc.rejected[0].origin.line == 1


def test_arrow_ipc_payload_with_one_bad_row_is_rejected_whole():
    table = pa.table({"event_id": ["a", "b", "c"], "user_id": ["u", None, "u"],
                      "ts": pa.array([1763619901000, 1763619901000, 5], pa.int64()),
                      "type": ["view", "view", "nope"]})  # fmt: skip
    pb = parse([ipc(table)], "arrow")
    assert pb.events.num_rows == 0
    (rej,) = pb.rejected
    assert rej.stage is DeadLetterStage.VALIDATE
    assert "row 1 of 3: activity event field 'user_id': expected a string of 1..256" in rej.reason
    assert "got null" in rej.reason and "1 more rows invalid" in rej.reason


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (pa.table({"event_id": ["a"], "user_id": ["u"], "ts": [1.7e12], "type": ["view"]}),
         "column 'ts': expected int64 epoch milliseconds, got type double"),
        (pa.table({"event_id": ["a"], "ts": [1763619901000], "type": ["view"]}),
         "expected columns event_id, user_id, ts, type, properties"),
        (pa.table({"event_id": [1], "user_id": ["u"], "ts": [1763619901000], "type": ["view"]}),
         "column 'event_id': expected strings, got type int64"),
        (pa.table({"event_id": pa.array([], pa.string()), "user_id": pa.array([], pa.string()),
                   "ts": pa.array([], pa.int64()), "type": pa.array([], pa.string())}),
         "expected at least one row, got 0"),
        (pa.table({"event_id": ["a"], "user_id": ["u"], "ts": [1763619901000], "type": ["view"],
                   "properties": ['{"a": NaN}']}),
         "field 'properties': expected a JSON object, got invalid JSON"),
    ],
)  # fmt: skip
def test_arrow_ipc_table_problems(table, expected):
    pb = parse([ipc(table)], "arrow")
    assert pb.events.num_rows == 0
    assert expected in pb.rejected[0].reason


def test_arrow_ipc_garbage_and_truncation():
    good = ipc(pa.table({"event_id": ["a"], "user_id": ["u"], "ts": [1763619901000],
                         "type": ["view"]}))  # fmt: skip
    pb = parse([b"\xff\xff\xff\xffnot arrow at all", good[: len(good) // 2], good], "arrow")
    assert pb.source_index.tolist() == [2]
    assert all("expected an Arrow IPC stream" in r.reason for r in pb.rejected)


def test_column_wise_fast_path_equals_the_per_event_path():
    """A batch of valid events is built column-wise; one bad event sends the whole batch down
    the per-event path. Both must give the same events, and the same as activity_row."""
    import random

    from schemas.events import EVENT_SCHEMA as SCHEMA
    from streams.etl.activity import activity_row

    rng = random.Random(5)
    faults = [{"ts": "x"}, {"ts": True}, {"ts": 2**70}, {"type": "nope"}, {"user_id": ""},
              {"properties": [1]}, {"event_id": None}, {"more": 1}]  # fmt: skip
    kinds = ["login", "view", "purchase", "message"]
    for _ in range(20):
        docs = []
        for k in range(rng.randrange(1, 40)):
            ts = 1_763_619_901_000 + rng.randrange(10**6)
            d = {"event_id": f"e{k}", "user_id": f"u{rng.randrange(5)}", "ts": ts,
                 "type": rng.choice(kinds)}  # fmt: skip
            if rng.random() < 0.5:
                d["properties"] = {"amount": rng.random(), "tags": ["a", {"b": None}]}
            docs.append(d)
        good = [orjson.dumps(d) for d in docs]
        fast = parse(good, "activity")
        expected = pa.RecordBatch.from_pylist(
            [dict(zip(SCHEMA.names, activity_row(d), strict=True)) for d in docs], schema=SCHEMA
        )
        assert fast.events.equals(expected)
        bad_at = rng.randrange(len(docs) + 1)
        broken = dict(docs[0], **rng.choice(faults))
        mixed = good[:bad_at] + [json.dumps(broken).encode()] + good[bad_at:]
        slow = parse(mixed, "activity")
        assert len(slow.rejected) == 1 and slow.rejected[0].origin.line == bad_at + 1
        assert slow.events.equals(fast.events)
