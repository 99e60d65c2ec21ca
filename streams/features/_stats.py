"""Normaliser statistics accumulated chunk by chunk, so fitting never holds all of ``X``.

The sums are exact (:mod:`kernels.moments`), so the statistics do not depend on how the rows
were split or in which order the parts were added: the Spark engine fits one partial per task,
merges them (:meth:`RunningStats.merge`) and gets the local engine's normalisers bit for bit.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from kernels.moments import EXPONENTS, moments_update

__all__ = ["FIT_CHUNK_ROWS", "RunningStats"]

FIT_CHUNK_ROWS = 65_536
"""Rows featurised at a time while fitting (bounds memory; the statistics do not depend on it)."""

_SCALE_1 = 149  # value = s1 << (e - 1), times 2**-149
_SCALE_2 = 2 * _SCALE_1


class RunningStats:
    """Count, exact sums of values and squares, min and max of the finite values of some columns.

    ``cols``: the columns of the feature matrix these statistics are about (int64 indices).
    """

    def __init__(self, cols: np.ndarray) -> None:
        self.cols = np.ascontiguousarray(cols, dtype=np.int64)
        k = len(self.cols)
        self.count = np.zeros(k, np.int64)
        self.s1 = np.zeros((k, EXPONENTS), np.int64)
        self.s2 = np.zeros((k, EXPONENTS, 3), np.int64)
        self.low = np.full(k, np.inf)
        self.high = np.full(k, -np.inf)

    def add(self, x: np.ndarray) -> None:
        """Fold in the finite values of ``x[:, self.cols]`` (``x`` float32 ``[rows, width]``)."""
        moments_update(x, self.cols, self.count, self.s1, self.s2, self.low, self.high)

    def merge(self, other: RunningStats) -> None:
        """Add another part's statistics (same columns); exact, so order does not matter."""
        if not np.array_equal(self.cols, other.cols):
            raise ValueError(
                f"merging normaliser statistics: expected columns {self.cols.tolist()}, "
                f"got {other.cols.tolist()}"
            )
        self.count += other.count
        self.s1 += other.s1
        self.s2 += other.s2
        np.minimum(self.low, other.low, out=self.low)
        np.maximum(self.high, other.high, out=self.high)

    def _mean_var(self, c: int) -> tuple[float, float]:
        n = int(self.count[c])
        a = 0
        b = 0
        for e in np.flatnonzero(self.s1[c] | self.s2[c].any(axis=1)).tolist():
            shift = e - 1
            a += int(self.s1[c, e]) << shift
            hi, mid, lo = (int(v) for v in self.s2[c, e])
            b += ((hi << 24) + (mid << 12) + lo) << (2 * shift)
        mean = Fraction(a, n << _SCALE_1)
        var = Fraction(n * b - a * a, (n * n) << _SCALE_2)
        return float(mean), float(var)

    def shift_scale(self, method: str) -> tuple[list[float], list[float]]:
        """``standard``: (mean, 1/std); ``minmax``: (min, 1/(max-min)); scale 1 when the
        column is constant or has no finite value (then shift 0). Each statistic is the
        correctly rounded value of the exact one."""
        shift: list[float] = []
        scale: list[float] = []
        for c in range(len(self.cols)):
            if self.count[c] == 0:
                shift.append(0.0)
                scale.append(1.0)
                continue
            if method == "standard":
                centre, var = self._mean_var(c)
                spread = float(np.sqrt(var))
            else:
                centre = float(self.low[c])
                spread = float(self.high[c] - self.low[c])
            shift.append(centre)
            scale.append(1.0 / spread if spread > 0 else 1.0)
        return shift, scale
