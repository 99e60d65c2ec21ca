"""Checked wrappers of the hashing kernels: strings -> buckets, text -> bag of hashed tokens.

Strings are read straight from Arrow's buffers (UTF-8 bytes + offsets), never as Python
objects. The hash (64-bit FNV-1a, xor-folded; see :mod:`kernels._bodies`) is fixed, so buckets
are the same in every process, machine and run, unlike Python's salted ``hash()``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from kernels import _cpu
from kernels._target import (
    KernelTarget,
    check_out,
    resolve_target,
    run_cuda,
    run_cuda_on_columns,
)
from kernels.errors import KernelInputError

__all__ = ["hash_strings", "hash_token_counts", "string_buffers"]

MAX_HASH_BITS = 30
MAX_TOKEN_BITS = 20
_EMPTY = np.frombuffer(b"", dtype=np.uint8)


def string_buffers(values: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(data, offsets, valid)`` of a string column, without per-string Python work.

    ``values`` may be a pyarrow (chunked) string/large_string/dictionary array or a sequence of
    ``str``/``None``. ``data`` is a read-only uint8 view of the UTF-8 bytes; string ``i`` is
    ``data[offsets[i]:offsets[i + 1]]`` (int64); ``valid`` is uint8, 0 for null.
    Raises :class:`KernelInputError` for a non-string column.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        try:
            values = pa.array(values, type=pa.string())
        except (pa.ArrowException, TypeError) as exc:
            raise KernelInputError(
                f"reading strings to hash: expected str or None items, got {exc}"
            ) from exc
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        if pa.types.is_dictionary(values.type) or pa.types.is_string_view(values.type):
            values = values.cast(pa.string())
        else:
            raise KernelInputError(
                f"reading strings to hash: expected a string column, got {values.type} "
                "(cast it to string first)"
            )
    n = len(values)
    _, off_buf, data_buf = values.buffers()
    off_type = np.int32 if pa.types.is_string(values.type) else np.int64
    if off_buf is None:  # only for an empty array
        offsets = np.zeros(n + 1, dtype=np.int64)
    else:
        start = values.offset * np.dtype(off_type).itemsize
        raw = np.frombuffer(off_buf, dtype=off_type, count=n + 1, offset=start)
        offsets = raw.astype(np.int64)  # a fresh writable copy: one kernel specialisation
    data = _EMPTY if data_buf is None else np.frombuffer(data_buf, dtype=np.uint8)
    if values.null_count == 0:
        valid = np.ones(n, dtype=np.uint8)
    else:
        valid = values.is_valid().to_numpy(zero_copy_only=False).astype(np.uint8)
    return data, offsets, valid


def _check_bits(bits: int, limit: int, what: str) -> int:
    if not isinstance(bits, int | np.integer) or not 1 <= int(bits) <= limit:
        raise KernelInputError(f"{what}: expected bits in 1..{limit}, got {bits!r}")
    return int(bits)


def _check_seed(seed: int) -> np.uint64:
    if not isinstance(seed, int | np.integer) or not 0 <= int(seed) < 2**64:
        raise KernelInputError(f"hash seed: expected an integer in [0, 2**64), got {seed!r}")
    return np.uint64(seed)


def hash_strings(
    values: Any, bits: int, seed: int = 0, *, target: KernelTarget = "cpu"
) -> np.ndarray:
    """Bucket in ``[0, 2**bits)`` of each string (int64; -1 for null), from its UTF-8 bytes.

    Raises :class:`KernelInputError` for a non-string column, ``bits`` outside 1..30 or a
    seed outside ``[0, 2**64)``.
    """
    bits = _check_bits(bits, MAX_HASH_BITS, "hashing strings")
    useed = _check_seed(seed)
    data, offsets, valid = string_buffers(values)
    out = np.empty(valid.shape[0], dtype=np.int64)
    if resolve_target(target) == "cuda":
        from kernels import _cuda

        run_cuda(_cuda.hash_strings, out.shape[0], [data, offsets, valid, useed, bits, out], [5])
    else:
        _cpu.hash_strings(data, offsets, valid, useed, bits, out)
    return out


def hash_token_counts(
    values: Any,
    bits: int,
    seed: int = 0,
    *,
    skip_numeric: bool = True,
    out: np.ndarray | None = None,
    col0: int = 0,
    target: KernelTarget = "cpu",
) -> np.ndarray:
    """Hashed bag of tokens: ``out[i, col0 + b]`` += number of tokens of string ``i`` in bucket b.

    Tokens are runs of ASCII letters/digits and non-ASCII bytes, ASCII lower-cased; with
    ``skip_numeric`` all-digit tokens are ignored. ``out`` (float32, C order, ``n`` rows, at
    least ``col0 + 2**bits`` columns) is added to in place; a new zero matrix of width
    ``2**bits`` is made when it is None. Null strings add nothing. Raises
    :class:`KernelInputError` on a bad column, ``bits`` outside 1..20 or a bad ``out``.
    """
    bits = _check_bits(bits, MAX_TOKEN_BITS, "hashing tokens")
    useed = _check_seed(seed)
    data, offsets, valid = string_buffers(values)
    n = valid.shape[0]
    if out is None:
        out = np.zeros((n, 1 << bits), dtype=np.float32)
        col0 = 0
    check_out("token counts out", out, np.float32, n, int(col0) + (1 << bits))
    if col0 < 0:
        raise KernelInputError(f"token counts col0: expected >= 0, got {col0}")
    args = [data, offsets, valid, useed, bits, bool(skip_numeric), out, int(col0)]
    if resolve_target(target) == "cuda":
        from kernels import _cuda

        run_cuda_on_columns(_cuda.token_counts, n, args, 6, 7, 1 << bits)
    else:
        _cpu.token_counts(*args)
    return out
