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

from collections.abc import Sequence

import orjson

from schemas.events import ACTIVITY_TYPES
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


def parse_activity_json(items: Sequence[tuple[int, bytes]], sink: Sink) -> None:
    """Parse activity JSON payloads (``(payload index, bytes)``) into ``sink``."""
    rows_append = sink.rows.append
    src_append = sink.src.append
    for i, raw in items:
        try:
            d = _loads(raw)
        except orjson.JSONDecodeError as exc:
            reason = f"activity event: expected a JSON object, got invalid JSON ({exc})"
            sink.reject(i, ParseError(reason))
            continue
        try:
            rows_append(activity_row(d))
        except RecordError as exc:
            sink.reject(i, exc)
            continue
        src_append(i)
