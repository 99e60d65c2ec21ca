"""Offline input: read files of any supported kind into chunks of parsed events.

Kinds (``FileKind``), detected from the extension and then the first bytes when ``"auto"``:

- ``text``: log lines or JSON lines (``.log``, ``.jsonl``, anything else; ``.gz`` is
  decompressed). Lines go through :func:`~streams.etl.parse_batch` unchanged, so a file gives
  the same events as the same lines sent to a topic. apt history files are cut into stanzas
  first (blank lines between stanzas are separators, not payloads; a stanza's origin is the line
  of its Start-Date). Origins are ``path:line``.
- ``csv``, ``parquet``, ``arrow`` (IPC file or stream): tables of activity events, or of
  normalised events, read through pyarrow and validated column-wise (see
  :mod:`streams.etl.tables`). Origins are ``path:row``: the file line for CSV (header = line 1,
  exact unless quoted fields span lines), the 1-based data row otherwise. A bad row's ``raw`` is
  its CSV text, or the row encoded as a JSON object for binary kinds (there are no original
  bytes per row).

A CSV whose header names no event columns (``labelled.csv``-style feature files) is not an
event file: each of its lines is rejected with that reason, so nothing is read silently.
"""

from __future__ import annotations

import bisect
import gzip
import multiprocessing
import os
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Literal

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from schemas.deadletter import DeadLetterStage
from schemas.events import EVENT_SCHEMA
from streams.errors import StageError
from streams.etl.activity import ACTIVITY_FIELDS
from streams.etl.batch import parse_batch, to_input_format
from streams.etl.errors import EventValidationError, InputFormatError, ParseError
from streams.etl.tables import check_table
from streams.etl.types import FileOrigin, InputFormat, ParsedBatch, ParseOptions, Rejected

__all__ = ["FileChunk", "FileKind", "ParsePool", "detect_file_kind", "read_file"]

FileKind = Literal["auto", "text", "csv", "parquet", "arrow"]
_EXT_KIND: dict[str, FileKind] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
    ".arrows": "arrow",
    ".ipc": "arrow",
    ".feather": "arrow",
}
_BLOCK = 4 << 20


@dataclass(frozen=True, slots=True)
class FileChunk:
    """One chunk of a file: its parsed events, how many payloads (lines, stanzas, rows) it held,
    and how far into the file (bytes, approximate for columnar kinds) reading has got.

    ``payloads`` are the chunk's raw payloads (text kinds only; ``None`` for columnar kinds), so
    a producer can replay exactly what the parser saw.
    """

    parsed: ParsedBatch
    n_read: int
    position: int
    payloads: list[bytes] | None = None


def detect_file_kind(path: str | os.PathLike[str]) -> FileKind:
    """The kind of a file, from its extension, else from its magic bytes; default ``text``."""
    p = Path(path)
    kind = _EXT_KIND.get(p.suffix.lower())
    if kind is not None:
        return kind
    with open(p, "rb") as f:
        head = f.read(8)
    if head[:4] == b"PAR1":
        return "parquet"
    if head[:6] == b"ARROW1" or head[:4] == b"\xff\xff\xff\xff":
        return "arrow"
    return "text"


class ParsePool:
    """Worker processes that parse text chunks for :func:`read_file`, ``workers`` at a time.

    Parsing is Python and holds the GIL, so a second core needs a second process. The workers
    are forked when the pool is made, all at once: make it before starting threads of one's
    own (the ETL job makes it before its writer thread and progress bar), since a fork copies
    only the forking thread. Fork, not spawn: a spawned worker would re-run the caller's main
    script, which a script without a ``__main__`` guard does not survive. Use it as a context
    manager, or :meth:`close` it.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        self.executor.submit(int).result()  # fork them all now (the first submit does)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ParsePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_text(path: Path) -> IO[bytes]:
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


_GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)
"""What reading a gzip stream raises when it is corrupt or ends before its end-of-stream marker
(a log copied or rotated while it was being written)."""


class _Unreadable(Exception):  # a signal between the reader's generators, never raised out
    """Raised by :func:`_lines` after the last whole line of a compressed file whose stream
    cannot be read to its end: ``rest`` is the incomplete line read before it broke."""

    def __init__(self, rest: bytes, reason: str) -> None:
        super().__init__(reason)
        self.rest, self.reason, self.line = rest, reason, 0


def _lines(path: Path) -> Iterator[tuple[bytes, int]]:
    """(line without terminator, bytes consumed so far); CRLF and LF both end a line. Raises
    :class:`_Unreadable` after the last whole line of a gzip stream that is corrupt or cut."""
    with _open_text(path) as f:
        raw = getattr(f, "fileobj", None) or f
        # gzip: read1 returns what one piece of compressed input gave, so a stream that breaks
        # loses none of the text before the break (read() would drop the whole block)
        read = f.read1 if isinstance(f, gzip.GzipFile) else f.read
        tail = b""
        while True:
            try:
                block = read(_BLOCK)
            except _GZIP_ERRORS as exc:
                raise _Unreadable(
                    tail,
                    "gzip file: expected a whole, valid stream, got "
                    f"{'zlib error' if isinstance(exc, zlib.error) else type(exc).__name__}: "
                    f"{exc} after {raw.tell()} compressed bytes",
                ) from None
            if not block:
                break
            parts = (tail + block).split(b"\n")
            tail = parts.pop()
            pos = raw.tell()
            for line in parts:
                yield (line[:-1] if line[-1:] == b"\r" else line), pos
        if tail:
            yield (tail[:-1] if tail[-1:] == b"\r" else tail), raw.tell()


def _until_unreadable(items: Iterator, broken: list[_Unreadable]) -> Iterator:
    """``items`` until one raises :class:`_Unreadable`, which is put in ``broken``."""
    try:
        yield from items
    except _Unreadable as exc:
        broken.append(exc)


def _text_payloads(
    path: Path, fmt: InputFormat, chunk: int, broken: list[_Unreadable]
) -> Iterator[tuple[list[bytes], FileOrigin | list[FileOrigin], int]]:
    """The payloads of a text file, ``chunk`` at a time: (payloads, their origins, position).
    When the file's compressed stream breaks, the payloads before the break, then the
    :class:`_Unreadable` (its ``line`` set) in ``broken``."""
    name = str(path)
    payloads: list[bytes] = []
    origins: list[FileOrigin] = []  # stanza mode only; lines are contiguous: one origin a chunk
    stanza: list[bytes] = []
    stanza_line = 0
    stanzas = fmt is InputFormat.APT_HISTORY
    first = True
    pos = 0
    leading: list[int] = []  # blank lines before the first text: separators if apt history
    n = 0
    for n, (line, pos) in enumerate(_until_unreadable(_lines(path), broken), 1):
        if first:
            if not line.strip():
                leading.append(n)
                continue
            first = False
            stanzas = stanzas or (fmt is InputFormat.AUTO and line.startswith(b"Start-Date:"))
            if not stanzas:
                payloads.extend(b"" for _ in leading)
        if stanzas:
            if stanza and (not line.strip() or line.startswith(b"Start-Date:")):
                payloads.append(b"\n".join(stanza))
                origins.append(FileOrigin(name, stanza_line))
                stanza = []
            if not line.strip():
                continue
            if not stanza:
                stanza_line = n
            stanza.append(line)
            if line.startswith(b"End-Date:"):
                payloads.append(b"\n".join(stanza))
                origins.append(FileOrigin(name, stanza_line))
                stanza = []
        else:
            payloads.append(line)
        if len(payloads) >= chunk:
            yield payloads, origins if stanzas else FileOrigin(name, n - len(payloads) + 1), pos
            payloads, origins = [], []
    if first and not stanzas:  # a file of blank lines only
        payloads.extend(b"" for _ in leading)
        n = len(leading)
    if stanza:
        payloads.append(b"\n".join(stanza))
        origins.append(FileOrigin(name, stanza_line))
    if payloads:
        yield payloads, origins if stanzas else FileOrigin(name, n - len(payloads) + 1), pos
    if broken:
        broken[0].line = n + 1


def _unreadable_chunk(path: Path, broken: _Unreadable) -> FileChunk:
    """The rest of a file whose compressed stream broke, as one rejected record (stage
    ``decode``, raw: the incomplete line before the break): read, never lost."""
    error = StageError(broken.reason, stage=DeadLetterStage.DECODE)
    rejected = Rejected.of(broken.rest, FileOrigin(str(path), broken.line), error)
    parsed = replace(ParsedBatch.empty(), rejected=[rejected])
    return FileChunk(parsed, 1, path.stat().st_size, [broken.rest])


def _parse_chunk(
    payloads: list[bytes], fmt: InputFormat, where: FileOrigin | list[FileOrigin],
    opts: ParseOptions,
) -> ParsedBatch:  # fmt: skip
    """One chunk's parse (module level, so a process pool can run it)."""
    return parse_batch(payloads, fmt, where, options=opts)


def _read_text(
    path: Path, fmt: InputFormat, opts: ParseOptions, chunk: int, pool: ParsePool | None
) -> Iterator[FileChunk]:
    broken: list[_Unreadable] = []
    parts = _text_payloads(path, fmt, chunk, broken)
    if pool is None:
        for payloads, where, pos in parts:
            yield FileChunk(_parse_chunk(payloads, fmt, where, opts), len(payloads), pos, payloads)
        if broken:
            yield _unreadable_chunk(path, broken[0])
        return
    # Chunks parse in the pool's processes, two per worker ahead (memory stays flat); results
    # come back in file order.
    ahead: deque[tuple[Future, list[bytes], int]] = deque()
    limit = 2 * pool.workers
    submit = pool.executor.submit
    try:
        for payloads, where, pos in parts:
            ahead.append((submit(_parse_chunk, payloads, fmt, where, opts), payloads, pos))
            while len(ahead) >= limit:
                future, done, at = ahead.popleft()
                yield FileChunk(future.result(), len(done), at, done)
        while ahead:
            future, done, at = ahead.popleft()
            yield FileChunk(future.result(), len(done), at, done)
        if broken:
            yield _unreadable_chunk(path, broken[0])
    finally:
        for future, _, _ in ahead:  # the caller stopped early, or a chunk failed
            future.cancel()


def _row_raw(table: pa.Table | pa.RecordBatch, r: int) -> bytes:
    return orjson.dumps(table.slice(r, 1).to_pylist()[0], default=str)


def _table_chunk(
    table: pa.Table | pa.RecordBatch, name: str, line_of, raw_of, position: int
) -> FileChunk:
    check = check_table(table)
    rejected = [
        Rejected.of(raw_of(table, r), FileOrigin(name, line_of(r)), EventValidationError(reason))
        for r, reason in check.bad
    ]
    parsed = ParsedBatch(check.events, check.ok_rows.astype(np.int32), rejected)
    return FileChunk(parsed, table.num_rows, position)


def _read_parquet(path: Path, chunk: int) -> Iterator[FileChunk]:
    pf = pq.ParquetFile(path)
    total_rows = max(pf.metadata.num_rows, 1)
    size = path.stat().st_size
    done = 0
    for batch in pf.iter_batches(batch_size=chunk):
        base = done
        done += batch.num_rows
        yield _table_chunk(batch, str(path), lambda r, b=base: b + r + 1, _row_raw,
                           size * done // total_rows)  # fmt: skip


def _read_arrow(path: Path) -> Iterator[FileChunk]:
    size = path.stat().st_size
    try:
        reader = pa.ipc.open_file(path)
        batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
    except pa.ArrowInvalid:
        batches = iter(pa.ipc.open_stream(pa.OSFile(str(path))))
    done = 0
    for batch in batches:
        base = done
        done += batch.num_rows
        yield _table_chunk(batch, str(path), lambda r, b=base: b + r + 1, _row_raw, size)


def _read_csv(path: Path, chunk: int) -> Iterator[FileChunk]:
    name = str(path)
    with open(path, "rb") as f:
        header = f.readline().rstrip(b"\r\n")
    columns = [c.strip().strip('"') for c in header.decode("utf-8", "replace").split(",")]
    if not header or not ({"event_id", "ts", "type"} <= set(columns)
                          or {"event_id", "ts_ms", "entity"} <= set(columns)):  # fmt: skip
        yield from _reject_all_lines(path, columns)
        return
    types = {c: pa.string() for c in ACTIVITY_FIELDS}
    types.update({f.name: f.type for f in EVENT_SCHEMA})
    invalid: list[int] = []
    invalid_rows: list[Rejected] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append(row.number)
        invalid_rows.append(
            Rejected.of(
                row.text.encode(),
                FileOrigin(name, row.number or 0),
                ParseError(
                    f"CSV row: expected {row.expected_columns} columns, got {row.actual_columns}"
                ),
            )
        )
        return "skip"

    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(use_threads=False, block_size=_BLOCK),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(
            column_types={c: t for c, t in types.items() if c in columns}, strings_can_be_null=True
        ),
    )
    good = 0  # data rows yielded so far; row g lives on line 2 + g + (invalid lines before it)

    def line_of(r: int, base: int) -> int:
        g = base + r
        line = 2 + g
        while True:
            nxt = 2 + g + bisect.bisect_right(invalid, line)
            if nxt == line:
                return line
            line = nxt

    def csv_raw(table: pa.RecordBatch, r: int) -> bytes:
        out = pa.BufferOutputStream()
        pacsv.write_csv(table.slice(r, 1), out, pacsv.WriteOptions(include_header=False))
        return out.getvalue().to_pybytes().rstrip(b"\r\n")

    size = path.stat().st_size
    for batch in reader:
        base = good
        good += batch.num_rows
        invalid.sort()
        fc = _table_chunk(batch, name, lambda r, b=base: line_of(r, b), csv_raw, 0)
        extra, invalid_rows[:] = list(invalid_rows), []
        if extra:
            parsed = fc.parsed
            merged = sorted(parsed.rejected + extra, key=lambda x: x.origin.line)
            fc = FileChunk(ParsedBatch(parsed.events, parsed.source_index, merged),
                           fc.n_read + len(extra), 0)  # fmt: skip
        yield replace(fc, position=size)
    if invalid_rows:  # rows rejected after the last batch
        yield FileChunk(ParsedBatch(ParsedBatch.empty().events, np.zeros(0, np.int32),
                                    invalid_rows), len(invalid_rows), size)  # fmt: skip


def _reject_all_lines(path: Path, columns: list[str]) -> Iterator[FileChunk]:
    reason = (
        "CSV file: expected a header naming the activity columns "
        f"({', '.join(ACTIVITY_FIELDS)}) or the event schema's, got {','.join(columns)[:120]!r}"
    )
    rejected = [
        Rejected.of(line, FileOrigin(str(path), n), ParseError(reason))
        for n, (line, _pos) in enumerate(_lines(path), 1)
    ]
    yield FileChunk(
        ParsedBatch(ParsedBatch.empty().events, np.zeros(0, np.int32), rejected),
        len(rejected),
        path.stat().st_size,
    )


def read_file(
    path: str | os.PathLike[str],
    fmt: InputFormat | str = "auto",
    *,
    kind: FileKind = "auto",
    options: ParseOptions | None = None,
    chunk_size: int = 65_536,
    pool: ParsePool | None = None,
) -> Iterator[FileChunk]:
    """Read one file in chunks of at most ``chunk_size`` payloads, parsed and validated.

    ``pool``: a :class:`ParsePool` whose processes parse a text file's chunks while this one
    reads the next; the same chunks, in file order, as without one.

    ``fmt`` is the payload format of text files (``auto`` detects per line); columnar kinds
    always hold activity or normalised events. When ``options.reference_ms`` is unset, the file's
    modification time is the reference for RFC 3164 years. Raises ``InputFormatError`` for an
    unknown kind or format and ``OSError`` when the file cannot be read; bad content is returned
    as ``Rejected`` records, never raised.
    """
    p = Path(path)
    fmt = to_input_format(fmt)
    if kind == "auto":
        kind = detect_file_kind(p)
    opts = options or ParseOptions()
    if opts.reference_ms is None:
        opts = replace(opts, reference_ms=int(p.stat().st_mtime * 1000))
    if kind == "text":
        yield from _read_text(p, fmt, opts, chunk_size, pool)
    elif kind == "csv":
        yield from _read_csv(p, chunk_size)
    elif kind == "parquet":
        yield from _read_parquet(p, chunk_size)
    elif kind == "arrow":
        yield from _read_arrow(p)
    else:
        raise InputFormatError(
            f"file kind: expected one of auto, text, csv, parquet, arrow, got {kind!r}"
        )
