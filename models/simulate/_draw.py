"""Vectorised draws shared by the simulator's parts (no per-user Python loops)."""

from __future__ import annotations

import numpy as np

__all__ = ["expand_counts", "grouped_offsets", "sigmoid", "window_sum_before"]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def expand_counts(counts: np.ndarray) -> np.ndarray:
    """Flat indices of ``counts`` (any shape) repeated ``counts`` times: cell ids of each draw."""
    flat = counts.ravel()
    return np.repeat(np.arange(flat.size, dtype=np.int64), flat)


def grouped_offsets(values: np.ndarray, group_sizes: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``values`` restarting at every group (groups are consecutive runs)."""
    total = np.cumsum(values)
    ends = np.cumsum(group_sizes)
    before = np.concatenate(([0.0], total[ends[:-1] - 1])) if len(ends) else np.zeros(0)
    return total - np.repeat(before, group_sizes)


def window_sum_before(daily: np.ndarray, day: np.ndarray, width: int, rows=None) -> np.ndarray:
    """Sum of ``daily[u, day-width:day]`` for each row (days strictly before ``day``).

    ``daily`` is [users, days]; ``day`` holds one day index per row of ``rows`` (default: per user).
    """
    cum = np.zeros((daily.shape[0], daily.shape[1] + 1), dtype=np.float64)
    np.cumsum(daily, axis=1, out=cum[:, 1:])
    rows = np.arange(daily.shape[0]) if rows is None else rows
    lo = np.maximum(day - width, 0)
    return cum[rows, day] - cum[rows, lo]
