"""Vectorised draws shared by the simulator's parts (no per-user Python loops)."""

from __future__ import annotations

import numpy as np

__all__ = ["decayed_count_before", "expand_counts", "grouped_offsets", "sigmoid"]


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


def decayed_count_before(
    ev_user: np.ndarray,
    ev_ts: np.ndarray,
    q_user: np.ndarray,
    q_ts: np.ndarray,
    half_life_ms: float,
) -> np.ndarray:
    """For each query (user, t): sum over that user's events strictly before t of
    ``2 ** (-(t - ts) / half_life_ms)`` -- the exponentially decayed count a streaming window
    holds at t (exact, unlike bucketed sliding windows)."""
    if ev_ts.size == 0:
        return np.zeros(q_ts.size)
    t0 = int(min(ev_ts.min(), q_ts.min())) - 1
    lam = np.log(2.0) / half_life_ms
    order = np.lexsort((ev_ts, ev_user))
    u, t = ev_user[order].astype(np.int64), ev_ts[order] - t0
    w = np.exp(lam * t.astype(np.float64))
    counts = np.bincount(u, minlength=int(max(u.max(), q_user.max())) + 1)
    cum = grouped_offsets(w, counts[counts > 0])
    key = (u << 41) + t
    qkey = (q_user.astype(np.int64) << 41) + (q_ts - t0)
    pos = np.searchsorted(key, qkey, side="left") - 1
    ok = pos >= 0
    ok[ok] = u[pos[ok]] == q_user[ok]
    out = np.zeros(q_ts.size)
    out[ok] = cum[pos[ok]] * np.exp(-lam * (q_ts[ok] - t0).astype(np.float64))
    return out
