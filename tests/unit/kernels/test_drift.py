"""Drift histograms (kernels.drift) against a slow NumPy reference; PSI's basic properties."""

from __future__ import annotations

import numpy as np
import pytest

from kernels import KernelInputError
from kernels.drift import bin_counts, psi, quantile_edges


def reference_counts(x: np.ndarray, edges: np.ndarray, n_edges: np.ndarray) -> np.ndarray:
    n, d = x.shape
    width = edges.shape[1] + 2
    out = np.zeros((d, width), dtype=np.int64)
    for j in range(d):
        for i in range(n):
            v = float(x[i, j])
            if np.isnan(v):
                out[j, width - 1] += 1
            else:
                out[j, int(np.searchsorted(edges[j, : n_edges[j]], v, side="right"))] += 1
    return out


def random_matrix(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.normal(size=(n, d)).astype(np.float32)
    if d > 1:
        x[:, 1] = rng.integers(0, 2, n)  # a 0/1 column: one edge
    if d > 2:
        x[:, 2] = rng.poisson(2.0, n)  # counts with ties
    if n:
        x[rng.random((n, d)) < 0.03] = np.nan
        x[0, 0] = np.inf
    return x


@pytest.mark.parametrize("n,d", [(500, 5), (1, 3), (0, 4), (37, 1)])
def test_bin_counts_match_the_reference(n: int, d: int) -> None:
    rng = np.random.default_rng(n + d)
    train = random_matrix(rng, 2000, d)
    edges, n_edges = quantile_edges(train, bins=10)
    x = random_matrix(rng, n, d)
    got = bin_counts(x, edges, n_edges)
    assert np.array_equal(got, reference_counts(x, edges, n_edges))
    assert got.sum() == n * d


def test_values_on_an_edge_go_right_and_edges_are_unique() -> None:
    train = np.array([[0.0], [0.0], [1.0], [1.0], [2.0], [2.0], [3.0], [3.0]], np.float32)
    edges, n_edges = quantile_edges(train, bins=4)
    assert n_edges.tolist() == [3]
    assert edges[0, :3].tolist() == [1.0, 2.0, 3.0]
    got = bin_counts(np.array([[0.0], [1.0], [1.5], [2.0], [9.0]], np.float32), edges, n_edges)
    assert got[0, :4].tolist() == [1, 2, 1, 1]


def test_shape_mismatch_is_a_clear_error() -> None:
    edges, n_edges = quantile_edges(np.zeros((10, 3)), bins=5)
    with pytest.raises(KernelInputError, match="for 2 features"):
        bin_counts(np.zeros((4, 2), np.float32), edges, n_edges)


def test_psi_is_zero_for_the_same_shape_and_grows_with_a_shift() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(size=(20_000, 1)).astype(np.float32)
    edges, n_edges = quantile_edges(train)
    ref = bin_counts(train, edges, n_edges)[:, :-1]
    same = bin_counts(rng.normal(size=(20_000, 1)).astype(np.float32), edges, n_edges)[:, :-1]
    moved = bin_counts(rng.normal(0.5, 1, (20_000, 1)).astype(np.float32), edges, n_edges)
    assert psi(ref, same)[0] < 0.01
    assert psi(ref, moved[:, :-1])[0] > 0.2
    assert psi(ref, 3 * ref)[0] == pytest.approx(0.0)
    assert psi(np.zeros_like(ref), ref)[0] == 0.0  # nothing to compare with
