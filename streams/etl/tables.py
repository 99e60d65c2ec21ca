"""Vectorised validation of activity events that arrive as Arrow tables.

Used for bulk Arrow IPC payloads and for CSV/Parquet/Arrow files: every rule of the activity
schema (see :mod:`streams.etl.activity`) is checked column-wise with ``pyarrow.compute``; only
the rows that fail get a Python-level message. ``properties`` (a JSON text column) is the one
per-row step: each present value is decoded and re-serialised, so a table gives the same bytes
as the JSON path for the same event.

A table whose columns are the normalised :data:`~schemas.events.EVENT_SCHEMA` (for example the
``events.parquet`` that ``streamscore etl`` writes) is accepted as it is, after the non-null and
time-range checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from schemas.events import ACTIVITY_TYPES, EVENT_SCHEMA
from streams.etl._sink import ts_range_error
from streams.etl.activity import (
    ACTIVITY_FIELDS,
    MAX_ID_CHARS,
    MAX_PROPERTIES_BYTES,
    REQUIRED_FIELDS,
    describe_value,
)
from streams.etl.types import MAX_TS_MS, MIN_TS_MS

__all__ = ["TableCheck", "check_table"]

_EVENT_REQUIRED = tuple(f.name for f in EVENT_SCHEMA if not f.nullable)
_TYPE_SET = pa.array(ACTIVITY_TYPES, pa.string())


@dataclass(frozen=True, slots=True)
class TableCheck:
    """Result of :func:`check_table`.

    ``events`` (EVENT_SCHEMA) are the good rows in input order, ``ok_rows`` their row numbers
    (int64, 0-based) in the input; ``bad`` lists ``(row, reason)`` for every other row, in order.
    ``table_error`` is set when the table as a whole is unusable (then every row is in ``bad``).
    """

    events: pa.RecordBatch
    ok_rows: np.ndarray
    bad: list[tuple[int, str]]
    table_error: str | None = None


class _TableError(Exception):
    pass


def _empty_events() -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=EVENT_SCHEMA)


def _all_bad(n: int, reason: str) -> TableCheck:
    return TableCheck(
        _empty_events(), np.zeros(0, np.int64), [(r, reason) for r in range(n)], reason
    )


def _string_col(table: pa.Table, name: str) -> pa.Array:
    col = table[name].combine_chunks() if isinstance(table[name], pa.ChunkedArray) else table[name]
    t = col.type
    if pa.types.is_dictionary(t):
        col, t = col.dictionary_decode(), t.value_type
    if pa.types.is_null(t):
        return pa.nulls(len(col), pa.string())
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        raise _TableError(f"activity table column {name!r}: expected strings, got type {t}")
    return col.cast(pa.string())


def _ts_col(table: pa.Table) -> tuple[pa.Array, np.ndarray]:
    """(int64 epoch-ms column, mask of rows whose text is not an integer)."""
    col = table["ts"].combine_chunks()
    t = col.type
    n = len(col)
    if pa.types.is_integer(t):
        return col.cast(pa.int64()), np.zeros(n, bool)
    if pa.types.is_timestamp(t):
        return pc.cast(col, pa.timestamp("ms", t.tz), safe=False).cast(pa.int64()), np.zeros(
            n, bool
        )
    if pa.types.is_string(t) or pa.types.is_large_string(t):  # CSV read as text
        ok = pc.fill_null(pc.match_substring_regex(col, r"^-?\d{1,18}$"), True)
        ints = pc.cast(pc.if_else(ok, col, "0"), pa.int64())
        return ints, ~ok.to_numpy(zero_copy_only=False)
    if pa.types.is_null(t):
        return pa.nulls(n, pa.int64()), np.zeros(n, bool)
    raise _TableError(
        f"activity table column 'ts': expected int64 epoch milliseconds, got type {t}"
    )


def _id_bad(col: pa.Array) -> np.ndarray:
    lens = pc.fill_null(pc.utf8_length(col), -1).to_numpy(zero_copy_only=False)
    return (lens <= 0) | (lens > MAX_ID_CHARS)


def _properties(col: pa.Array | None, n: int, bad: np.ndarray) -> tuple[list, dict[int, str]]:
    """Normalised properties per row, and a reason per row whose properties are invalid."""
    if col is None:
        return [None] * n, {}
    out: list[str | None] = col.to_pylist()
    errors: dict[int, str] = {}
    present = col.is_valid().to_numpy(zero_copy_only=False) & ~bad
    for r in np.flatnonzero(present).tolist():  # rows without properties cost nothing here
        text = out[r]
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            errors[r] = (
                "activity event field 'properties': expected a JSON object, got invalid JSON "
                f"({exc})"
            )
            continue
        if value is None:
            out[r] = None
            continue
        if type(value) is not dict:
            errors[r] = (
                "activity event field 'properties': expected a JSON object or null, got "
                + describe_value(value)
            )
            continue
        norm = orjson.dumps(value).decode()
        if len(norm) > MAX_PROPERTIES_BYTES:
            errors[r] = (
                f"activity event field 'properties': expected at most {MAX_PROPERTIES_BYTES} "
                f"bytes of JSON, got {len(norm)}"
            )
        out[r] = norm
    return out, errors


def _check_activity(table: pa.Table) -> TableCheck:
    n = table.num_rows
    names = table.column_names
    missing = [c for c in REQUIRED_FIELDS if c not in names]
    unknown = [c for c in names if c not in ACTIVITY_FIELDS]
    if missing or unknown or len(set(names)) != len(names):
        return _all_bad(
            n,
            f"activity table: expected columns {', '.join(ACTIVITY_FIELDS)} (properties "
            f"optional); got {', '.join(names)[:200] or 'none'}",
        )
    try:
        event_id = _string_col(table, "event_id")
        user_id = _string_col(table, "user_id")
        kind = _string_col(table, "type")
        props_col = _string_col(table, "properties") if "properties" in names else None
        ts, ts_not_int = _ts_col(table)
    except _TableError as exc:
        return _all_bad(n, str(exc))
    ts_np = pc.fill_null(ts, 0).to_numpy(zero_copy_only=False)
    ts_null = pc.is_null(ts).to_numpy(zero_copy_only=False)
    checks: list[tuple[np.ndarray, str, str, pa.Array]] = [
        (_id_bad(event_id), "event_id", f"a string of 1..{MAX_ID_CHARS} characters", event_id),
        (_id_bad(user_id), "user_id", f"a string of 1..{MAX_ID_CHARS} characters", user_id),
        (ts_null | ts_not_int, "ts", "epoch milliseconds (int)", table["ts"].combine_chunks()),
        (~ts_null & ~ts_not_int & ((ts_np < MIN_TS_MS) | (ts_np >= MAX_TS_MS)), "ts", "", ts),
        (
            ~pc.fill_null(pc.is_in(kind, value_set=_TYPE_SET), False).to_numpy(
                zero_copy_only=False
            ),
            "type",
            "one of " + ", ".join(ACTIVITY_TYPES),
            kind,
        ),
    ]
    bad_mask = np.zeros(n, bool)
    for mask, *_ in checks:
        bad_mask |= mask
    props, prop_errors = _properties(props_col, n, bad_mask)
    bad: list[tuple[int, str]] = []
    for r in np.flatnonzero(bad_mask).tolist():
        for mask, name, expected, col in checks:
            if mask[r]:
                if not expected:
                    bad.append((r, str(ts_range_error("activity event field 'ts'", int(ts_np[r])))))
                else:
                    found = describe_value(col[r].as_py())
                    bad.append(
                        (r, f"activity event field {name!r}: expected {expected}, got {found}")
                    )
                break
    for r in prop_errors:
        bad_mask[r] = True
    if prop_errors:
        bad = sorted(bad + list(prop_errors.items()))
    ok_rows = np.flatnonzero(~bad_mask)
    keep = pa.array(~bad_mask)
    k = len(ok_rows)
    uid = user_id.filter(keep)
    arrays = {
        "event_id": event_id.filter(keep),
        "ts_ms": ts.filter(keep),
        "entity": uid,
        "source": pa.repeat(pa.scalar("activity"), k),
        "event_type": kind.filter(keep),
        "user_id": uid,
        "properties": pa.array([props[r] for r in ok_rows.tolist()], pa.string()),
    }
    return TableCheck(_assemble(arrays, k), ok_rows, bad)


def _assemble(arrays: dict[str, pa.Array], k: int) -> pa.RecordBatch:
    cols = [
        arrays[f.name].cast(f.type) if f.name in arrays else pa.nulls(k, f.type)
        for f in EVENT_SCHEMA
    ]
    return pa.RecordBatch.from_arrays(cols, schema=EVENT_SCHEMA)


def _check_events(table: pa.Table) -> TableCheck:
    n = table.num_rows
    try:
        arrays = {
            f.name: table[f.name].combine_chunks().cast(f.type)
            for f in EVENT_SCHEMA
            if f.name in table.column_names
        }
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        return _all_bad(n, f"event table: columns do not cast to the event schema ({exc})")
    bad_mask = np.zeros(n, bool)
    reasons: dict[int, str] = {}
    for name in _EVENT_REQUIRED:
        null = pc.is_null(arrays[name]).to_numpy(zero_copy_only=False)
        for r in np.flatnonzero(null & ~bad_mask).tolist():
            reasons[r] = f"event table column {name!r}: expected a value, got null"
        bad_mask |= null
    ts_np = pc.fill_null(arrays["ts_ms"], MIN_TS_MS).to_numpy(zero_copy_only=False)
    out = (ts_np < MIN_TS_MS) | (ts_np >= MAX_TS_MS)
    for r in np.flatnonzero(out & ~bad_mask).tolist():
        reasons[r] = str(ts_range_error("event table column 'ts_ms'", int(ts_np[r])))
    bad_mask |= out
    keep = pa.array(~bad_mask)
    ok_rows = np.flatnonzero(~bad_mask)
    kept = {name: a.filter(keep) for name, a in arrays.items()}
    return TableCheck(_assemble(kept, len(ok_rows)), ok_rows, sorted(reasons.items()))


def check_table(table: pa.Table | pa.RecordBatch) -> TableCheck:
    """Validate a table of activity events (or of normalised events) row by row, vectorised."""
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    if all(name in table.column_names for name in _EVENT_REQUIRED):
        return _check_events(table)
    return _check_activity(table)
