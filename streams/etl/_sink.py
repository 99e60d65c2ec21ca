"""Collects what the per-format parsers produce and turns it into one :class:`ParsedBatch`.

Parsers append row tuples (one per event, fields in :data:`EVENT_SCHEMA` order) or ready Arrow
batches, and rejections; :meth:`Sink.finish` builds each Arrow column from a Python list once
per batch (that, not per-event objects, is what keeps parsing at a few microseconds a line).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import blake2b

import numpy as np
import pyarrow as pa

from schemas.events import EVENT_SCHEMA
from streams.etl.errors import EventValidationError, RecordError
from streams.etl.types import (
    MAX_TS_MS,
    MIN_TS_MS,
    OriginLike,
    ParsedBatch,
    Rejected,
    origin_at,
)

__all__ = [
    "Ctx",
    "LineParser",
    "Retry",
    "Row",
    "Sink",
    "event_id_of",
    "run_lines",
    "ts_range_error",
]

_ROW_TYPE = pa.struct(list(EVENT_SCHEMA)[1:])
Row = tuple
"""One event: the 14 fields of EVENT_SCHEMA after ``event_id``, in order (the ids are kept in a
parallel list, so a parser's tuple is stored as it is, not rebuilt with its id in front)."""
LineParser = Callable[[str, "Ctx"], tuple]
"""Text of one payload -> the 14 fields after ``event_id``; raises RecordError."""
Retry = Callable[[str, RecordError, "Ctx"], tuple]
"""Second chance for a refused payload (its text, the error, the context): the row from another
parser, or a RecordError whose reason says everything that was tried."""


@dataclass(slots=True)
class Ctx:
    """Per-call parse context, derived once from ParseOptions."""

    host: str  # entity of a log event that names no host: given_host or the default
    ref_ms: int
    ref_year: int
    naive_offset_ms: int
    bsd_cache: dict[str, int] | None = None  # RFC 3164 stamp -> ms for this reference day
    default_host: str = ""
    given_host: str | None = None  # the current payload's host as the caller knows it

    def use_host(self, host: str | None) -> None:
        """Set the caller-given host of the next payload (None: unknown, use the default)."""
        self.given_host = host
        self.host = host or self.default_host


def event_id_of(raw: bytes) -> str:
    """Deterministic id of a log event: 80-bit BLAKE2b of the payload bytes, as 20 hex chars.

    Content only, not the origin, so a line gets the same id whether it is read from a file or a
    topic (offline == online); identical repeated lines share an id and differ by origin.
    """
    return blake2b(raw, digest_size=10).hexdigest()


def ts_range_error(what: str, ts_ms: int) -> EventValidationError:
    try:
        shown = datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat()
    except (OverflowError, ValueError, OSError):
        shown = f"{ts_ms} ms"
    return EventValidationError(
        f"{what}: expected an event time in 2000-01-01..2100-01-01 UTC, got {shown}"
    )


class Sink:
    """Accumulates events and rejections of one batch call (payload indices are batch-wide)."""

    __slots__ = ("hosts", "ids", "origins", "parts", "payloads", "rejected", "rows", "src")

    def __init__(
        self,
        payloads: Sequence[bytes],
        origins: OriginLike,
        hosts: Sequence[str | None] | None = None,
    ) -> None:
        self.payloads = payloads
        self.origins = origins
        self.hosts = hosts
        self.rows: list[Row] = []
        self.ids: list[str] = []
        self.src: list[int] = []
        self.parts: list[tuple[pa.RecordBatch, np.ndarray]] = []
        self.rejected: list[tuple[int, Rejected]] = []

    def reject(self, i: int, exc: RecordError) -> None:
        rejected = Rejected.of(bytes(self.payloads[i]), origin_at(self.origins, i), exc)
        self.rejected.append((i, rejected))

    def add_batch(self, batch: pa.RecordBatch, src: np.ndarray) -> None:
        if batch.num_rows:
            self.parts.append((batch, src.astype(np.int32, copy=False)))

    def _flush_rows(self) -> None:
        if not self.rows:
            return
        # Tuples -> one struct array in C++: twice as fast as transposing in Python.
        try:
            struct = pa.array(self.rows, type=_ROW_TYPE)
        except (pa.ArrowException, OverflowError, TypeError):
            struct = self._drop_unconvertible()
        if len(struct):
            columns = [pa.array(self.ids, pa.string()), *struct.flatten()]
            batch = pa.RecordBatch.from_arrays(columns, schema=EVENT_SCHEMA)
            self.parts.append((batch, np.asarray(self.src, dtype=np.int32)))
        self.rows = []
        self.ids = []
        self.src = []

    def _drop_unconvertible(self) -> pa.StructArray:
        """Safety net: reject the payloads whose rows do not fit the Arrow schema (a parser
        let an out-of-range value through), so one bad row cannot fail the whole batch."""
        dropped: set[int] = set()
        for row, event_id, i in zip(self.rows, self.ids, self.src, strict=True):
            if i in dropped:
                continue
            try:
                pa.array([row], type=_ROW_TYPE)
                pa.array([event_id], pa.string())
            except (pa.ArrowException, OverflowError, TypeError) as exc:
                dropped.add(i)
                self.reject(i, EventValidationError(f"event does not fit the event schema: {exc}"))
        # A payload with several events is all-or-nothing: drop all rows of a rejected payload.
        kept = [t for t in zip(self.rows, self.ids, self.src, strict=True) if t[2] not in dropped]
        self.rows = [t[0] for t in kept]
        self.ids = [t[1] for t in kept]
        self.src = [t[2] for t in kept]
        return pa.array(self.rows, type=_ROW_TYPE)

    def finish(self) -> ParsedBatch:
        self._flush_rows()
        rejected = [r for _, r in sorted(self.rejected, key=lambda t: t[0])]
        if not self.parts:
            return ParsedBatch(
                pa.RecordBatch.from_pylist([], schema=EVENT_SCHEMA), np.zeros(0, np.int32), rejected
            )
        if len(self.parts) == 1:
            batch, src = self.parts[0]
        else:
            table = pa.Table.from_batches([b for b, _ in self.parts], schema=EVENT_SCHEMA)
            src = np.concatenate([s for _, s in self.parts])
            order = np.argsort(src, kind="stable")
            batch = table.take(pa.array(order)).combine_chunks().to_batches()[0]
            src = src[order]
        if not np.all(src[1:] >= src[:-1]):  # parts of one group can be out of order
            order = np.argsort(src, kind="stable")
            batch, src = batch.take(pa.array(order)), src[order]
        return ParsedBatch(batch, src, rejected)


def run_lines(
    fn: LineParser,
    items: Sequence[tuple[int, str]],
    sink: Sink,
    ctx: Ctx,
    retry: Retry | None = None,
) -> None:
    """Apply a per-line parser to ``(payload index, text)`` items, collecting rows or rejections.

    ``retry``, when given, gets each payload ``fn`` refuses (format detection's second chance).
    """
    rows_append = sink.rows.append
    src_append = sink.src.append
    payloads = sink.payloads
    hosts = sink.hosts
    first = len(sink.src)
    for i, text in items:
        if hosts is not None:
            ctx.use_host(hosts[i])
        try:
            row = fn(text, ctx)
            ts = row[0]
            if not MIN_TS_MS <= ts < MAX_TS_MS:
                raise ts_range_error(f"{row[2]} event time", ts)
        except RecordError as exc:
            if retry is None:
                sink.reject(i, exc)
                continue
            try:
                row = retry(text, exc, ctx)
                if not MIN_TS_MS <= row[0] < MAX_TS_MS:
                    raise ts_range_error(f"{row[2]} event time", row[0]) from None
            except RecordError as final:
                sink.reject(i, final)
                continue
        rows_append(row)
        src_append(i)
    sink.ids += [blake2b(payloads[i], digest_size=10).hexdigest() for i in sink.src[first:]]
