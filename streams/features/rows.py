"""Window-state rows as bytes, for the per-entity state store and its changelog.

A row is ``row_width`` float64 values, most of them zero (windows and counters a user has not
touched: ~80% on the simulator's traffic). :func:`encode_rows` writes each row sparsely,
losslessly (the bit patterns of the nonzero values, so -0.0 and NaN survive):

* a 4-byte header ``b"SW"`` + u16 ``row_width`` (little endian);
* a bitmap of ``ceil(row_width / 8)`` bytes, bit ``j`` (LSB first) set when value ``j`` is stored;
* padding to ``HEAD`` (``4 + bitmap`` rounded up to ``8k + 4``) bytes;
* the stored float64 values in column order.

A row of ``w = 270`` values with 55 nonzero takes 484 bytes instead of 2,160. The encoded
length is always ``4 (mod 8)``, never a multiple of 8, so it cannot be mistaken for a plain row
(``row_width * 8`` bytes of float64, what earlier versions stored), which :func:`decode_rows`
still reads. Both functions work on all the rows of a batch at once with NumPy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from streams.features.errors import FeatureInputError

__all__ = ["decode_rows", "encode_rows"]

_MAGIC = b"SW"
_U8 = np.dtype("u1")


def _head(width: int) -> int:
    """Header + bitmap + padding, in bytes: the smallest ``8k + 4`` that holds them."""
    need = 4 + (width + 7) // 8
    return need + (4 - need) % 8


def encode_rows(rows: np.ndarray) -> list[bytes]:
    """One compact ``bytes`` per row of ``rows`` (float64 ``[k, width]``), in order."""
    rows = np.ascontiguousarray(rows, dtype=np.float64)
    k, width = rows.shape
    if k == 0:
        return []
    head = _head(width)
    bits = rows.view(np.uint64)
    stored = bits != 0
    counts = stored.sum(axis=1)
    sizes = head + 8 * counts
    starts = np.zeros(k + 1, dtype=np.int64)
    np.cumsum(sizes, out=starts[1:])
    out = np.zeros(int(starts[-1]), dtype=_U8)
    header = np.zeros((k, head), dtype=_U8)
    header[:, :2] = np.frombuffer(_MAGIC, dtype=_U8)
    header[:, 2:4] = np.frombuffer(np.uint16(width).tobytes(), dtype=_U8)
    header[:, 4 : 4 + (width + 7) // 8] = np.packbits(stored, axis=1, bitorder="little")
    out[(starts[:-1, None] + np.arange(head, dtype=np.int64)).reshape(-1)] = header.reshape(-1)
    values = bits[stored].view(_U8)  # row-major: each row's values, in column order
    if len(values):
        first = starts[:-1] + head  # where each row's values begin
        per_row = 8 * counts
        base = np.repeat(first - np.concatenate(([0], np.cumsum(per_row)[:-1])), per_row)
        out[base + np.arange(len(values), dtype=np.int64)] = values
    blob = out.tobytes()
    bounds = starts.tolist()
    return [blob[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def decode_rows(raws: Sequence[bytes | None], width: int) -> np.ndarray:
    """Rows ``[len(raws), width]`` float64 from encoded or plain rows; ``None`` is a zero row.

    Raises :class:`FeatureInputError` naming the first row that is neither a plain row of
    ``width * 8`` bytes nor a compact row of this width.
    """
    k = len(raws)
    out = np.zeros((k, width), dtype=np.float64)
    present = [(i, r) for i, r in enumerate(raws) if r is not None]
    if not present:
        return out
    index = np.fromiter((i for i, _ in present), dtype=np.int64, count=len(present))
    blobs = [r for _, r in present]
    lengths = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs))
    plain = lengths == 8 * width
    if plain.all():
        out[index] = np.frombuffer(b"".join(blobs), dtype=np.float64).reshape(-1, width)
        return out
    head = _head(width)
    starts = np.zeros(len(blobs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    data = np.frombuffer(b"".join(blobs), dtype=_U8)
    compact = np.flatnonzero(~plain)
    ok = (lengths[compact] >= head) & ((lengths[compact] - head) % 8 == 0)
    if ok.all():
        at = starts[compact]
        magic = data[at[:, None] + np.arange(4, dtype=np.int64)]
        expected = np.frombuffer(_MAGIC + np.uint16(width).tobytes(), dtype=_U8)
        ok = (magic == expected).all(axis=1)
    if ok.all():
        nbytes = (width + 7) // 8
        bitmap = data[(at + 4)[:, None] + np.arange(nbytes, dtype=np.int64)]
        stored = np.unpackbits(bitmap, axis=1, count=width, bitorder="little").astype(bool)
        counts = stored.sum(axis=1)
        ok = head + 8 * counts == lengths[compact]
    if not ok.all():
        bad = int(index[compact[np.flatnonzero(~ok)[0]]])
        found = len(raws[bad])  # type: ignore[arg-type]
        raise FeatureInputError(
            f"reading window state row {bad}: expected {8 * width} bytes of float64 or a "
            f"compact row of width {width}, found {found} bytes that are neither"
        )
    for j in np.flatnonzero(plain):
        a = int(starts[j])
        out[index[j]] = np.frombuffer(data[a : a + 8 * width].tobytes(), dtype=np.float64)
    if counts.sum():
        first = at + head
        per_row = 8 * counts
        src = np.repeat(first - np.concatenate(([0], np.cumsum(per_row)[:-1])), per_row)
        values = data[src + np.arange(int(per_row.sum()), dtype=np.int64)].copy().view(np.float64)
        target = np.zeros((len(compact), width), dtype=np.float64)
        target[stored] = values
        out[index[compact]] = target
    return out
