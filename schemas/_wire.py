"""Vectorised FlatBuffers wire helpers: UTF-8 columns, string vectors, bounded gathers.

Private to :mod:`schemas`. Everything here works on whole columns with NumPy so that encoding
and decoding cost a handful of array operations per batch instead of Python work per field.
The FlatBuffers format facts relied on (little endian throughout):

* a string is ``u32 length, bytes, NUL``, its length word 4-aligned;
* a uoffset stored at position ``p`` with value ``v`` points to ``p + v`` (always forward);
* a table at ``t`` starts with an ``i32`` soffset ``s``; its vtable is at ``t - s`` and is
  ``u16 vtable size, u16 table size, u16 field offset per slot`` (0 or beyond the vtable: absent).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from schemas.errors import CodecError

U8 = np.dtype("u1")
U32 = np.dtype("<u4")

StrColumn = Sequence[str] | np.ndarray | pa.Array | pa.ChunkedArray
"""A column of strings: list, NumPy str/object array, or Arrow (large) string array."""


def utf8_column(values: StrColumn, n: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(offsets, data)`` of a string column: int64 offsets (n + 1, from 0), UTF-8 bytes.

    Raises :class:`CodecError` when the column is not ``n`` strings (wrong length, a null/None,
    a non-string element).
    """
    try:
        if isinstance(values, pa.ChunkedArray):
            arr = values.combine_chunks()
        elif isinstance(values, pa.Array):
            arr = values
        else:
            arr = pa.array(values, type=pa.large_string())
        if not _is_text(arr.type):
            raise CodecError(
                f"reading score column {name!r}: expected an Arrow string column, "
                f"got type {arr.type}"
            )
        if not pa.types.is_large_string(arr.type):
            arr = arr.cast(pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, UnicodeError) as exc:
        raise CodecError(
            f"reading score column {name!r}: expected strings, "
            f"got a {type(values).__name__} that Arrow cannot read as strings ({exc})"
        ) from exc
    if len(arr) != n:
        raise CodecError(f"reading score column {name!r}: expected {n} values, got {len(arr)}")
    if arr.null_count:
        raise CodecError(
            f"reading score column {name!r}: expected strings only, got {arr.null_count} null(s)"
        )
    _, off_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(off_buf, dtype=np.int64, count=n + 1, offset=arr.offset * 8)
    first, last = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(data_buf, dtype=U8) if data_buf is not None else np.empty(0, U8)
    return offsets - first, data[first:last]


def _is_text(dtype: pa.DataType) -> bool:
    if pa.types.is_dictionary(dtype):
        dtype = dtype.value_type
    return (
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or (pa.types.is_string_view(dtype))
    )


def string_segments(lengths: np.ndarray) -> np.ndarray:
    """Bytes each string occupies on the wire: length word + bytes + NUL, padded to 4."""
    return (lengths + 8) & ~3


def scatter_segments(out: np.ndarray, dest: np.ndarray, offsets: np.ndarray, data: np.ndarray):
    """Copy string ``i`` (``data[offsets[i]:offsets[i+1]]``) to ``out[dest[i]:]``, for every i."""
    total = int(offsets[-1])
    if total == 0:
        return
    lengths = np.diff(offsets)
    shift = np.repeat(dest - offsets[:-1], lengths)
    shift += np.arange(total, dtype=np.int64)
    out[shift] = data


class Reader:
    """Bounded, vectorised reads from many FlatBuffers held in one byte array.

    ``lo``/``hi`` give each buffer's byte range; every read is checked against the range of the
    buffer it belongs to, so a corrupt buffer raises :class:`CodecError` instead of reading its
    neighbour. This is a bounds check, not the full FlatBuffers verifier.
    """

    def __init__(
        self, blob: bytes | bytearray | memoryview, lo: np.ndarray, hi: np.ndarray, what: str
    ):
        self.b = np.frombuffer(blob, dtype=U8)
        self.lo = lo
        self.hi = hi
        self.what = what

    def gather(self, pos: np.ndarray, dtype: np.dtype | str, rows: np.ndarray | None = None):
        """Read one ``dtype`` scalar at each absolute position ``pos`` (buffers ``rows``)."""
        dt = np.dtype(dtype)
        lo = self.lo if rows is None else self.lo[rows]
        hi = self.hi if rows is None else self.hi[rows]
        bad = (pos < lo) | (pos + dt.itemsize > hi)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise CodecError(
                f"decoding {self.what}: expected a {dt} inside the buffer's {int(hi[i] - lo[i])} "
                f"bytes, found an offset pointing to byte {int(pos[i] - lo[i])} (corrupt buffer?)"
            )
        if dt.itemsize == 1:
            return self.b[pos].view(dt)
        idx = pos[:, None] + np.arange(dt.itemsize, dtype=np.int64)
        return self.b[idx].view(dt).reshape(-1)

    def slots(self, tables: np.ndarray, count: int) -> np.ndarray:
        """Field offsets of slots ``0..count-1`` of each table, shape (n, count); 0 = absent.

        Reads every vtable in one gather; slots beyond a (shorter, older) vtable are absent.
        """
        n = len(tables)
        vtables = tables - self.gather(tables, "<i4").astype(np.int64)
        vt_size = self.gather(vtables, "<u2").astype(np.int64)
        voff = 4 + 2 * np.arange(count, dtype=np.int64)
        inside = voff[None, :] < vt_size[:, None]
        found = np.zeros((n, count), dtype=np.int64)
        rows = np.broadcast_to(np.arange(n, dtype=np.int64)[:, None], (n, count))[inside]
        pos = (vtables[:, None] + voff[None, :])[inside]
        found[inside] = self.gather(pos, "<u2", rows)
        return found

    def follow(self, pos: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Absolute targets of the uoffsets stored at ``pos``."""
        return pos + self.gather(pos, U32, rows).astype(np.int64)

    def strings(self, uoff_pos: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Decode the strings that the uoffsets at ``uoff_pos`` point to, as a str object array."""
        starts = self.follow(uoff_pos, rows)
        lengths = self.gather(starts, U32, rows).astype(np.int64)
        offsets = np.zeros(len(starts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        ends = starts + 4 + lengths
        hi = self.hi if rows is None else self.hi[rows]
        if (ends > hi).any():
            i = int(np.flatnonzero(ends > hi)[0])
            raise CodecError(
                f"decoding {self.what}: a string of {int(lengths[i])} bytes runs past the end of "
                f"its buffer (corrupt or truncated buffer?)"
            )
        total = int(offsets[-1])
        idx = np.repeat(starts + 4 - offsets[:-1], lengths) + np.arange(total, dtype=np.int64)
        arr = pa.LargeStringArray.from_buffers(
            len(starts), pa.py_buffer(offsets), pa.py_buffer(self.b[idx])
        )
        try:
            arr.validate(full=True)
        except pa.ArrowInvalid as exc:
            raise CodecError(f"decoding {self.what}: expected UTF-8 strings, found {exc}") from exc
        return arr.to_numpy(zero_copy_only=False)

    def vector(self, uoff_pos: np.ndarray, rows: np.ndarray | None = None):
        """``(start, length)`` of the vectors that the uoffsets at ``uoff_pos`` point to."""
        vec = self.follow(uoff_pos, rows)
        return vec + 4, self.gather(vec, U32, rows).astype(np.int64)
