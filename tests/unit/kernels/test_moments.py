"""The exact moments kernel against exact rational arithmetic, and order independence."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from kernels import KernelInputError
from kernels.moments import EXPONENTS, moments_update
from streams.features._stats import RunningStats


def _reference(col: np.ndarray) -> tuple[float, float]:
    vals = [Fraction(float(v)) for v in col if np.isfinite(v)]
    n = len(vals)
    mean = sum(vals) / n
    var = sum((v - mean) ** 2 for v in vals) / n
    return float(mean), float(var)


def _columns(rng) -> np.ndarray:
    n = 300
    x = np.empty((n, 6), np.float32)
    x[:, 0] = rng.normal(1e6, 1e-2, n)  # a large mean, a tiny spread: naive sums cancel
    x[:, 1] = rng.normal(0, 1, n) * 10.0 ** rng.integers(-30, 30, n)  # every magnitude
    x[:, 2] = np.float32(np.finfo(np.float32).tiny) * rng.integers(-5, 5, n) / 4  # subnormals
    x[:, 3] = rng.integers(-3, 3, n)
    x[:, 4] = rng.normal(0, 1, n)
    x[::7, 4] = np.nan
    x[::11, 4] = np.inf
    x[:, 5] = 7.0  # constant
    return x


def test_exact_mean_and_variance_match_rational_arithmetic():
    rng = np.random.default_rng(1)
    x = _columns(rng)
    stats = RunningStats(np.arange(x.shape[1]))
    stats.add(x)
    for c in range(x.shape[1]):
        mean, var = stats._mean_var(c)
        want_mean, want_var = _reference(x[:, c])
        assert mean == want_mean and var == want_var
    finite = np.isfinite(x[:, 4])
    assert stats.count[4] == finite.sum()
    assert stats.low[1] == x[:, 1].min() and stats.high[1] == x[:, 1].max()


def test_any_split_in_any_order_gives_the_same_bits():
    rng = np.random.default_rng(2)
    x = _columns(rng)
    cols = np.array([0, 1, 2, 4])
    whole = RunningStats(cols)
    whole.add(x)
    for seed in range(3):
        cut = np.sort(np.random.default_rng(seed).choice(len(x), 4, replace=False))
        parts = []
        for block in np.split(x[np.random.default_rng(seed).permutation(len(x))], cut):
            part = RunningStats(cols)
            part.add(block)
            parts.append(part)
        merged = RunningStats(cols)
        for part in reversed(parts):
            merged.merge(part)
        for method in ("standard", "minmax"):
            assert merged.shift_scale(method) == whole.shift_scale(method)


def test_no_finite_value_gives_identity_scaling():
    stats = RunningStats(np.array([0]))
    stats.add(np.full((3, 1), np.nan, np.float32))
    assert stats.shift_scale("standard") == ([0.0], [1.0])


def test_wrapper_rejects_bad_shapes_and_columns():
    x = np.zeros((2, 3), np.float32)
    acc = (np.zeros(1, np.int64), np.zeros((1, EXPONENTS), np.int64),
           np.zeros((1, EXPONENTS, 3), np.int64), np.zeros(1), np.zeros(1))  # fmt: skip
    with pytest.raises(KernelInputError, match="column indices"):
        moments_update(x, np.array([3]), *acc)
    with pytest.raises(KernelInputError, match="moments s1"):
        moments_update(x, np.array([0]), acc[0], np.zeros((1, 2), np.int64), *acc[2:])
