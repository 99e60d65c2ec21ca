"""Histograms of a feature matrix against fixed bin edges, and the population stability index.

Drift monitoring bins every batch of the stream's feature matrix against edges taken from a
reference's quantiles (:func:`quantile_edges`; the leader uses the serving rows right after a
champion's warm-up, see :mod:`streams.learning.drift`), adds the counts up over a rolling window
and compares them with the reference histogram (:func:`psi`). The per-row work (a binary search
per feature) is a kernel body shared by the CPU loop and its CUDA twin; the counting is one
``np.bincount`` over all features at once.
"""

from __future__ import annotations

import numpy as np

from kernels import _cpu
from kernels._target import KernelTarget, require, resolve_target, run_cuda
from kernels.errors import KernelInputError

__all__ = ["bin_counts", "make_reference", "psi", "quantile_edges"]

PSI_FLOOR = 1e-4
"""Share given to an empty bin when computing PSI (log of zero otherwise)."""


def quantile_edges(x: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Inner bin edges per column of ``x`` [n, d] from its quantiles: ``(edges, n_edges)`` with
    ``edges`` float64 [d, bins - 1] (unique, ascending in the first ``n_edges[j]``, then +inf
    padding) and ``n_edges`` int64 [d]. Columns with few distinct values get fewer edges (a
    0/1 column gets one). NaNs are ignored."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or bins < 2:
        raise KernelInputError(
            f"quantile edges: expected a 2-D matrix and bins >= 2, got shape {x.shape}, bins={bins}"
        )
    d = x.shape[1]
    edges = np.full((d, bins - 1), np.inf)
    n_edges = np.zeros(d, dtype=np.int64)
    qs = np.linspace(0, 1, bins + 1)[1:-1]
    for j in range(d):
        col = x[:, j][np.isfinite(x[:, j])]
        if not len(col):
            continue
        # bin k is [edge k-1, edge k): a value equal to an edge goes right, so edges sit just
        # above the quantile where the data has ties (counts, one-hot columns).
        e = np.unique(np.quantile(col, qs, method="higher"))
        e = e[e > col.min()]
        edges[j, : len(e)] = e
        n_edges[j] = len(e)
    return edges, n_edges


def bin_counts(
    x: np.ndarray,
    edges: np.ndarray,
    n_edges: np.ndarray,
    *,
    target: KernelTarget = "cpu",
) -> np.ndarray:
    """Counts int64 [d, E + 2] of the rows of ``x`` float32 [n, d] per feature and bin: slot
    ``b <= E`` holds the values with ``b`` edges at or below them (E = ``edges.shape[1]``, bins
    beyond ``n_edges[j]`` stay empty), slot ``E + 1`` the NaNs. Raises
    :class:`KernelInputError` when shapes disagree."""
    x = require("bin_counts x", x, np.float32, 2)
    edges = require("bin_counts edges", edges, np.float64, 2)
    n_edges = require("bin_counts n_edges", n_edges, np.int64, 1)
    n, d = x.shape
    if edges.shape[0] != d or n_edges.shape[0] != d:
        raise KernelInputError(
            f"bin_counts: expected edges and n_edges for {d} features, got {edges.shape[0]} "
            f"and {n_edges.shape[0]}"
        )
    if d and (n_edges.min() < 0 or n_edges.max() > edges.shape[1]):
        raise KernelInputError(
            f"bin_counts n_edges: expected 0..{edges.shape[1]}, got "
            f"{n_edges.min()}..{n_edges.max()}"
        )
    width = edges.shape[1] + 2
    idx = np.empty((n, d), dtype=np.int32)
    if n and resolve_target(target) == "cuda":
        from kernels import _cuda

        run_cuda(_cuda.bin_index, n, [x, edges, n_edges, idx], [3])
    elif n:
        _cpu.bin_index(x, edges, n_edges, idx)
    flat = idx + (np.arange(d, dtype=np.int32) * width)[None, :]
    return np.bincount(flat.ravel(), minlength=d * width).reshape(d, width).astype(np.int64)


def psi(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Population stability index per row of two count matrices [d, bins] (NaN slots
    excluded by the caller): ``sum((c - r) * ln(c / r))`` over bins of the shares, empty bins
    floored at :data:`PSI_FLOOR`. 0 for identical shapes; > 0.2 is commonly called drift.
    A row with no counts on either side gives 0."""
    r = np.asarray(reference, dtype=np.float64)
    c = np.asarray(current, dtype=np.float64)
    if r.shape != c.shape:
        raise KernelInputError(f"psi: expected equal shapes, got {r.shape} and {c.shape}")
    rs, cs = r.sum(axis=-1, keepdims=True), c.sum(axis=-1, keepdims=True)
    empty = (rs[..., 0] == 0) | (cs[..., 0] == 0)
    rp = np.maximum(r / np.where(rs == 0, 1, rs), PSI_FLOOR)
    cp = np.maximum(c / np.where(cs == 0, 1, cs), PSI_FLOOR)
    out = ((cp - rp) * np.log(cp / rp)).sum(axis=-1)
    return np.where(empty, 0.0, out)


def make_reference(x: np.ndarray, scores: np.ndarray, bins: int = 10) -> dict[str, np.ndarray]:
    """Reference of drift monitoring: quantile edges and counts of every feature of ``x``
    [n, d] and of the model's ``scores`` [n] (NaN slots dropped). The leader builds it from
    serving rows; training stores one of the training rows with each model version
    (``drift_reference.npz``) for offline comparison."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    s = np.ascontiguousarray(np.asarray(scores, dtype=np.float32).reshape(-1, 1))
    edges, n_edges = quantile_edges(x, bins)
    s_edges, s_n = quantile_edges(s, bins)
    return {
        "edges": edges,
        "n_edges": n_edges,
        "counts": bin_counts(x, edges, n_edges)[:, :-1],
        "score_edges": s_edges,
        "score_n_edges": s_n,
        "score_counts": bin_counts(s, s_edges, s_n)[:, :-1],
    }
