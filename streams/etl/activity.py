"""User activity events: one JSON object per payload, or many rows in Arrow form.

The activity event schema (JSON object; the same columns in Arrow IPC, CSV and Parquet):

============  ==========================================================================
field         rule
============  ==========================================================================
event_id      string, 1..256 characters (the producer's id; kept as the event id)
user_id       string, 1..256 characters (becomes ``entity``)
ts            integer UTC epoch milliseconds in 2000-01-01 .. 2100-01-01 (bools, floats,
              strings are refused; in Arrow also a ``timestamp`` column)
type          one of :class:`~schemas.events.ActivityType` (``login``, ``view``, ...)
properties    optional JSON object (or null); re-serialised compactly, at most 16 KiB
============  ==========================================================================

Any other top-level field is refused, so a producer's typo is seen rather than dropped.
NaN/Infinity are not JSON and are refused by the decoder, as are numbers that overflow a double.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from schemas.events import ACTIVITY_TYPES, EVENT_SCHEMA
from streams.etl._sink import Sink, ts_range_error
from streams.etl.errors import EventValidationError, ParseError, RecordError
from streams.etl.types import MAX_TS_MS, MIN_TS_MS

__all__ = [
    "ACTIVITY_FIELDS",
    "MAX_ID_CHARS",
    "MAX_PROPERTIES_BYTES",
    "activity_row",
    "describe_value",
    "parse_activity_json",
    "parse_activity_payloads",
]

ACTIVITY_FIELDS = ("event_id", "user_id", "ts", "type", "properties")
REQUIRED_FIELDS = ACTIVITY_FIELDS[:4]
MAX_ID_CHARS = 256
MAX_PROPERTIES_BYTES = 16_384
_ALLOWED = frozenset(ACTIVITY_FIELDS)
_TYPES = frozenset(ACTIVITY_TYPES)
_SRC = "activity"
_loads = orjson.loads
_dumps = orjson.dumps


def describe_value(value: object) -> str:
    """``'2015-06-10' (str)``: a found value for an error message, cut to a readable length."""
    if value is None:
        return "null"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _field_error(d: dict, name: str, expected: str) -> EventValidationError:
    found = describe_value(d[name]) if name in d else "nothing (field missing)"
    return EventValidationError(f"activity event field {name!r}: expected {expected}, got {found}")


def _check_id(d: dict, name: str) -> str:
    value = d.get(name)
    if type(value) is not str or not 0 < len(value) <= MAX_ID_CHARS:
        raise _field_error(d, name, f"a string of 1..{MAX_ID_CHARS} characters")
    return value


def activity_row(d: object) -> tuple:
    """A decoded activity JSON value -> a full event row; ``EventValidationError`` if invalid."""
    if type(d) is not dict:
        raise EventValidationError(
            f"activity event: expected a JSON object, got {describe_value(d)}"
        )
    if not d.keys() <= _ALLOWED:
        unknown = sorted(k for k in d if k not in _ALLOWED)[:5]
        raise EventValidationError(
            f"activity event: expected only fields {', '.join(ACTIVITY_FIELDS)}; "
            f"got unexpected {', '.join(repr(k[:40]) for k in unknown)}"
        )
    event_id = _check_id(d, "event_id")
    user_id = _check_id(d, "user_id")
    ts = d.get("ts")
    if type(ts) is not int:
        raise _field_error(d, "ts", "epoch milliseconds (int)")
    if not MIN_TS_MS <= ts < MAX_TS_MS:
        raise ts_range_error("activity event field 'ts'", ts)
    kind = d.get("type")
    if type(kind) is not str or kind not in _TYPES:
        raise _field_error(d, "type", "one of " + ", ".join(ACTIVITY_TYPES))
    props = d.get("properties")
    if props is not None:
        if type(props) is not dict:
            raise _field_error(d, "properties", "a JSON object or null")
        props = _dumps(props).decode()
        if len(props) > MAX_PROPERTIES_BYTES:
            raise EventValidationError(
                f"activity event field 'properties': expected at most {MAX_PROPERTIES_BYTES} "
                f"bytes of JSON, got {len(props)}"
            )
    return (event_id, ts, user_id, _SRC, kind, user_id, None, None, None, None, None, None,
            None, None, props)  # fmt: skip


_GET = [operator.itemgetter(name) for name in REQUIRED_FIELDS]


def _columnar(docs: list[dict]) -> pa.RecordBatch | None:
    """All-valid fast path: the batch's events built column-wise, checked with aggregates.

    Returns None as soon as any document might break a rule; the caller then runs
    :func:`activity_row` per document, which finds the culprits and words their reasons.
    Accepts exactly what :func:`activity_row` accepts and builds the same rows. The passes
    over the documents are C loops (``map``, ``set``, Arrow's converters): Arrow refuses
    anything but ``str`` (or null) for a string column, so the ids need no type pass of
    their own; ``ts`` (Arrow would take a float) and ``type`` (a set member) do.
    """
    if set(map(type, docs)) != {dict} or not set().union(*docs) <= _ALLOWED:
        return None
    try:
        ids, users, stamps, kinds = (list(map(get, docs)) for get in _GET)
    except KeyError:
        return None
    props = [d.get("properties") for d in docs]
    if (
        set(map(type, stamps)) != {int}
        or set(map(type, kinds)) != {str}
        or not set(map(type, props)) <= {dict, type(None)}
        or not set(kinds) <= _TYPES
    ):
        return None
    try:
        a_ts = pa.array(stamps, pa.int64())
        a_ids = pa.array(ids, pa.string())
        a_users = pa.array(users, pa.string())
    except (OverflowError, pa.ArrowException):
        return None  # a big int, or a non-string id: the row path words it
    if a_ids.null_count or a_users.null_count:
        return None
    lo_hi = [pc.min_max(pc.utf8_length(a)).values() for a in (a_ids, a_users)]
    ts_lo, ts_hi = (v.as_py() for v in pc.min_max(a_ts).values())
    if (
        any(lo.as_py() < 1 or hi.as_py() > MAX_ID_CHARS for lo, hi in lo_hi)
        or ts_lo < MIN_TS_MS
        or ts_hi >= MAX_TS_MS
    ):
        return None
    texts = [None if p is None else _dumps(p).decode() for p in props]
    if max(map(len, filter(None, texts)), default=0) > MAX_PROPERTIES_BYTES:
        return None
    n = len(docs)
    arrays = {
        "event_id": a_ids,
        "ts_ms": a_ts,
        "entity": a_users,
        "source": pa.repeat(pa.scalar(_SRC), n),
        "event_type": pa.array(kinds, pa.string()),
        "user_id": a_users,
        "properties": pa.array(texts, pa.string()),
    }
    cols = [arrays[f.name] if f.name in arrays else pa.nulls(n, f.type) for f in EVENT_SCHEMA]
    return pa.RecordBatch.from_arrays(cols, schema=EVENT_SCHEMA)


def parse_activity_json(items: Sequence[tuple[int, bytes]], sink: Sink) -> None:
    """Parse activity JSON payloads (``(payload index, bytes)``) into ``sink``.

    Decodes every payload, then builds the events column-wise when all are valid (the usual
    case), else row by row with a precise reason for each invalid one.
    """
    if items:
        index, raws = zip(*items, strict=True)
        parse_activity_payloads(index, raws, sink)


def parse_activity_payloads(index: Sequence[int], raws: Sequence[bytes], sink: Sink) -> None:
    """:func:`parse_activity_json` on payload indices and payloads given apart (no tuples)."""
    try:
        docs: list = list(map(_loads, raws))  # one C loop when every payload is JSON
        kept: Sequence[int] = index
    except orjson.JSONDecodeError:
        docs, kept = [], []
        for i, raw in zip(index, raws, strict=True):
            try:
                docs.append(_loads(raw))
            except orjson.JSONDecodeError as exc:
                reason = f"activity event: expected a JSON object, got invalid JSON ({exc})"
                sink.reject(i, ParseError(reason))
                continue
            kept.append(i)
    if not docs:
        return
    batch = _columnar(docs)
    if batch is not None:
        sink.add_batch(batch, np.asarray(kept, np.int32))
        return
    for i, d in zip(kept, docs, strict=True):
        try:
            row = activity_row(d)
        except RecordError as exc:
            sink.reject(i, exc)
            continue
        sink.ids.append(row[0])
        sink.rows.append(row[1:])
        sink.src.append(i)
