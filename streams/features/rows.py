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
    """One compact ``bytes`` per row of ``rows`` (float64 ``[k, width]``), in order.

    The headers and the stored values are laid out with NumPy for all rows at once; each row
    is then two slices joined (a Python step per row, which the per-entity store needs anyway).
    """
    rows = np.ascontiguousarray(rows, dtype=np.float64)
    k, width = rows.shape
    if k == 0:
        return []
    head = _head(width)
    bits = rows.view(np.uint64)
    stored = bits != 0
    header = np.zeros((k, head), dtype=_U8)
    header[:, :2] = np.frombuffer(_MAGIC, dtype=_U8)
    header[:, 2:4] = np.frombuffer(np.uint16(width).tobytes(), dtype=_U8)
    header[:, 4 : 4 + (width + 7) // 8] = np.packbits(stored, axis=1, bitorder="little")
    heads = header.tobytes()
    values = bits[stored].tobytes()  # row-major: each row's values, in column order
    ends = (8 * np.cumsum(stored.sum(axis=1))).tolist()
    out, start = [], 0
    for i, end in enumerate(ends):
        out.append(heads[i * head : (i + 1) * head] + values[start:end])
        start = end
    return out


def decode_rows(raws: Sequence[bytes | None], width: int) -> np.ndarray:
    """Rows ``[len(raws), width]`` float64 from encoded or plain rows; ``None`` is a zero row.

    Raises :class:`FeatureInputError` naming the first row that is neither a plain row of
    ``width * 8`` bytes nor a compact row of this width.
    """
    k = len(raws)
    out = np.zeros((k, width), dtype=np.float64)
    present = [i for i, r in enumerate(raws) if r is not None]
    if not present:
        return out
    blobs = [raws[i] for i in present]
    index = np.asarray(present, dtype=np.int64)
    lengths = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs))
    plain = lengths == 8 * width
    if plain.any():
        rows = [b for b, p in zip(blobs, plain.tolist(), strict=True) if p]
        out[index[plain]] = np.frombuffer(b"".join(rows), dtype=np.float64).reshape(-1, width)
        if plain.all():
            return out
    compact = np.flatnonzero(~plain)
    blobs = [blobs[j] for j in compact.tolist()]
    head = _head(width)
    size = lengths[compact]
    ok = (size >= head) & ((size - head) % 8 == 0)
    if ok.all():
        heads = np.frombuffer(b"".join(b[:head] for b in blobs), dtype=_U8).reshape(-1, head)
        expected = np.frombuffer(_MAGIC + np.uint16(width).tobytes(), dtype=_U8)
        stored = np.unpackbits(heads[:, 4:], axis=1, count=width, bitorder="little")
        ok = (heads[:, :4] == expected).all(axis=1) & (head + 8 * stored.sum(axis=1) == size)
    if not ok.all():
        bad = int(index[compact[np.flatnonzero(~ok)[0]]])
        raise FeatureInputError(
            f"reading window state row {bad}: expected {8 * width} bytes of float64 or a "
            f"compact row of width {width}, found {len(raws[bad])} bytes that are neither"  # type: ignore[arg-type]
        )
    target = np.zeros((len(blobs), width), dtype=np.float64)
    target[stored.astype(bool)] = np.frombuffer(b"".join(b[head:] for b in blobs), np.float64)
    out[index[compact]] = target
    return out
