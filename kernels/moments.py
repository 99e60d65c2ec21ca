"""Exact, order-independent column moments of float32 feature blocks (for fitted normalisers).

A float32 value is ``M * 2**(e - 150)`` with an integer mantissa ``|M| < 2**24`` and a biased
exponent ``e`` (1..254). Summing ``M`` per column and exponent in int64, and ``M**2`` split in
three parts below ``2**25`` each, keeps the sums of values and of squares *exact*; the caller
turns them into a mean and a variance with one rounding at the end. So statistics accumulated
over any split of the rows, in any order, merged by adding the integer arrays, are bit for bit
the same: the local ETL (one process, in file order) and the Spark one (one partial per task)
fit the same normalisers. int64 holds the sums of 2**38 rows per column and exponent.

CPU only: this runs once per fitted pipeline, not per micro-batch, so it has no CUDA twin.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kernels._jit import JIT_OPTIONS
from kernels._target import require
from kernels.errors import KernelInputError

__all__ = ["EXPONENTS", "moments_update"]

EXPONENTS = 256
"""Exponent buckets per column (the biased float32 exponent, 0 folded into 1)."""


@njit(**JIT_OPTIONS)
def _moments(x, cols, count, s1, s2, low, high):  # pragma: no cover - compiled
    bits = x.view(np.uint32)
    for i in range(x.shape[0]):
        for c in range(cols.shape[0]):
            j = cols[c]
            b = bits[i, j]
            e = (b >> 23) & 0xFF
            if e == 0xFF:  # inf or NaN: not a finite value
                continue
            m = np.int64(b & 0x7FFFFF)
            if e == 0:
                e = 1  # subnormal: same scale as the smallest normal exponent
            else:
                m |= np.int64(1) << 23
            hi = m >> 12
            lo = m & 0xFFF
            if b >> 31:
                s1[c, e] -= m
            else:
                s1[c, e] += m
            s2[c, e, 0] += hi * hi
            s2[c, e, 1] += 2 * hi * lo
            s2[c, e, 2] += lo * lo
            count[c] += 1
            v = np.float64(x[i, j])
            if v < low[c]:
                low[c] = v
            if v > high[c]:
                high[c] = v


def moments_update(
    x: np.ndarray,
    cols: np.ndarray,
    count: np.ndarray,
    s1: np.ndarray,
    s2: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
) -> None:
    """Add the finite values of ``x[:, cols]`` to the accumulators, in place.

    ``x`` float32 ``[rows, width]``; ``cols`` int64 ``[k]`` column indices; ``count`` int64
    ``[k]``; ``s1`` int64 ``[k, EXPONENTS]`` (signed mantissa sums); ``s2`` int64
    ``[k, EXPONENTS, 3]`` (mantissa-square sums: high*high, 2*high*low, low*low of the 12-bit
    halves); ``low``/``high`` float64 ``[k]`` running min/max. Raises
    :class:`KernelInputError` on wrong shapes, dtypes or column indices.
    """
    x = require("moments x", x, np.float32, 2)
    cols = require("moments cols", cols, np.int64, 1)
    k = cols.shape[0]
    if k and (cols.min() < 0 or cols.max() >= x.shape[1]):
        raise KernelInputError(
            f"moments: expected column indices in [0, {x.shape[1]}), got "
            f"{int(cols.min())}..{int(cols.max())}"
        )
    want = {
        "count": (count, np.int64, (k,)),
        "s1": (s1, np.int64, (k, EXPONENTS)),
        "s2": (s2, np.int64, (k, EXPONENTS, 3)),
        "low": (low, np.float64, (k,)),
        "high": (high, np.float64, (k,)),
    }
    for name, (arr, dtype, shape) in want.items():
        if (not isinstance(arr, np.ndarray) or arr.dtype != dtype or arr.shape != shape
                or not arr.flags.c_contiguous or not arr.flags.writeable):  # fmt: skip
            found = f"{arr.dtype.name} {arr.shape}" if isinstance(arr, np.ndarray) else type(arr)
            raise KernelInputError(
                f"moments {name}: expected a writable C-order {np.dtype(dtype).name} array of "
                f"shape {shape}, got {found}"
            )
    _moments(x, cols, count, s1, s2, low, high)
