"""Normaliser statistics accumulated chunk by chunk, so fitting never holds all of ``X``."""

from __future__ import annotations

import numpy as np

__all__ = ["FIT_CHUNK_ROWS", "RunningStats"]

FIT_CHUNK_ROWS = 65_536
"""Rows featurised at a time while fitting (part of what makes fitted stats reproducible)."""


class RunningStats:
    """Count, mean, sum of squared deviations, min and max of the finite values per column.

    Chunks are merged with Chan et al.'s pairwise formula, which stays accurate where a
    running sum of squares would cancel catastrophically.
    """

    def __init__(self, n_cols: int) -> None:
        self.count = np.zeros(n_cols)
        self.mean = np.zeros(n_cols)
        self.m2 = np.zeros(n_cols)
        self.low = np.full(n_cols, np.inf)
        self.high = np.full(n_cols, -np.inf)

    def add(self, block: np.ndarray) -> None:
        """Fold in a ``[rows, n_cols]`` block; non-finite values are skipped."""
        values = block.astype(np.float64)
        finite = np.isfinite(values)
        n_b = finite.sum(axis=0).astype(np.float64)
        safe = np.where(finite, values, 0.0)
        mean_b = np.divide(safe.sum(axis=0), n_b, out=np.zeros_like(n_b), where=n_b > 0)
        m2_b = (np.where(finite, values - mean_b, 0.0) ** 2).sum(axis=0)
        total = self.count + n_b
        delta = mean_b - self.mean
        share = np.divide(n_b, total, out=np.zeros_like(n_b), where=total > 0)
        self.mean = self.mean + delta * share
        self.m2 = self.m2 + m2_b + delta**2 * self.count * share
        self.count = total
        self.low = np.minimum(self.low, np.where(finite, values, np.inf).min(axis=0,
                                                                          initial=np.inf))
        self.high = np.maximum(self.high, np.where(finite, values, -np.inf).max(axis=0,
                                                                             initial=-np.inf))

    def shift_scale(self, method: str) -> tuple[list[float], list[float]]:
        """``standard``: (mean, 1/std); ``minmax``: (min, 1/(max-min)); scale 1 when the
        column is constant or has no finite value (then shift 0)."""
        seen = self.count > 0
        if method == "standard":
            centre = np.where(seen, self.mean, 0.0)
            spread = np.sqrt(np.divide(self.m2, self.count, out=np.zeros_like(self.m2),
                                       where=seen))
        else:
            centre = np.where(seen, self.low, 0.0)
            spread = np.where(seen, self.high - self.low, 0.0)
        scale = np.divide(1.0, spread, out=np.ones_like(spread), where=spread > 0)
        return [float(v) for v in centre], [float(v) for v in scale]
