"""One-hot scatter and normalisation against the reference, with NaN/inf and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from kernels import KernelInputError, normalise, one_hot
from tests.unit.kernels import reference as ref


def test_normalise_matches_reference_with_nan_and_inf() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6)).astype(np.float32)
    x[3, 1] = np.nan
    x[4, 2] = np.inf
    x[5, 4] = -np.inf
    cols = np.array([1, 2, 4], dtype=np.int64)
    shift, scale = np.array([0.5, -1.0, 2.0]), np.array([2.0, 0.25, 1.0])
    want = ref.normalise(x, cols, shift, scale)
    got = normalise(x.copy(), cols, shift, scale)
    assert np.array_equal(got, want)
    assert got[3, 1] == 0 and got[4, 2] == 0 and got[5, 4] == 0


def test_normalise_empty_and_no_columns() -> None:
    x = np.zeros((0, 3), dtype=np.float32)
    assert normalise(x, np.array([0]), np.zeros(1), np.ones(1)).shape == (0, 3)
    y = np.ones((2, 2), dtype=np.float32)
    e = np.array([], dtype=np.int64)
    assert (normalise(y, e, np.array([]), np.array([])) == 1).all()


def test_normalise_rejects_bad_input() -> None:
    x = np.zeros((2, 3), dtype=np.float32)
    with pytest.raises(KernelInputError, match="one length"):
        normalise(x, np.array([0, 1]), np.zeros(1), np.ones(1))
    with pytest.raises(KernelInputError, match=r"cols: expected 0..2"):
        normalise(x, np.array([3]), np.zeros(1), np.ones(1))
    with pytest.raises(KernelInputError, match="float32"):
        normalise(x.astype(np.float64), np.array([0]), np.zeros(1), np.ones(1))
    with pytest.raises(KernelInputError, match="duplicates"):
        normalise(x, np.array([1, 1]), np.zeros(2), np.ones(2))


def test_one_hot_matches_reference_and_ignores_out_of_range_ids() -> None:
    idx = np.array([0, 3, -1, 4, 2, 2**40], dtype=np.int64)
    got = one_hot(idx, 4, np.zeros((6, 7), dtype=np.float32), 2)
    want = ref.one_hot(idx.tolist(), 4, np.zeros((6, 7), dtype=np.float32), 2)
    assert np.array_equal(got, want)
    assert got.sum() == 3


def test_one_hot_rejects_bad_input() -> None:
    with pytest.raises(KernelInputError, match="shape"):
        one_hot(np.array([0]), 4, np.zeros((1, 4), dtype=np.float32), 1)
    with pytest.raises(KernelInputError, match="width >= 1"):
        one_hot(np.array([0]), 0, np.zeros((1, 4), dtype=np.float32))
