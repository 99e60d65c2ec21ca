"""Checked wrappers of the vector-assembly kernels: one-hot scatter and in-place normalisation.

The feature pipeline allocates one float32 matrix per batch and every step writes its own
columns of it (``col0`` onwards), so a feature vector is assembled without intermediate copies.
"""

from __future__ import annotations

import numpy as np

from kernels import _cpu
from kernels._target import (
    KernelTarget,
    check_out,
    require,
    resolve_target,
    run_cuda,
    run_cuda_on_columns,
)
from kernels.errors import KernelInputError

__all__ = ["normalise", "one_hot"]


def one_hot(
    idx: np.ndarray,
    width: int,
    out: np.ndarray,
    col0: int = 0,
    *,
    target: KernelTarget = "cpu",
) -> np.ndarray:
    """Set ``out[i, col0 + idx[i]] = 1`` where ``0 <= idx[i] < width`` (other ids set nothing).

    ``idx`` int64 category ids (-1 for missing), ``out`` float32 C-order with ``len(idx)`` rows
    and at least ``col0 + width`` columns, written in place and returned. Raises
    :class:`KernelInputError` on bad shapes or dtypes.
    """
    idx = require("one-hot idx", idx, np.int64, 1)
    if width < 1 or col0 < 0:
        raise KernelInputError(f"one-hot: expected width >= 1, col0 >= 0, got {width}, {col0}")
    check_out("one-hot out", out, np.float32, idx.shape[0], int(col0) + int(width))
    args = [idx, int(width), out, int(col0)]
    if resolve_target(target) == "cuda":
        from kernels import _cuda

        run_cuda_on_columns(_cuda.one_hot, idx.shape[0], args, 2, 3, int(width))
    else:
        _cpu.one_hot(*args)
    return out


def normalise(
    x: np.ndarray,
    cols: np.ndarray,
    shift: np.ndarray,
    scale: np.ndarray,
    *,
    target: KernelTarget = "cpu",
) -> np.ndarray:
    """In place: ``x[:, cols[k]] = (x[:, cols[k]] - shift[k]) * scale[k]``, computed in float64.

    Non-finite inputs (NaN, +-inf) become 0, i.e. the fitted centre for standard scaling and
    the minimum for min-max. ``x`` float32 C-order; ``cols`` int64 column indices; ``shift`` and
    ``scale`` float64 of the same length. Raises :class:`KernelInputError` on mismatches.
    """
    cols = require("normalise cols", cols, np.int64, 1)
    shift = require("normalise shift", shift, np.float64, 1)
    scale = require("normalise scale", scale, np.float64, 1)
    check_out("normalise x", x, np.float32, None, 1)
    if not cols.shape[0] == shift.shape[0] == scale.shape[0]:
        raise KernelInputError(
            f"normalise: expected cols, shift, scale of one length, got "
            f"{cols.shape[0]}, {shift.shape[0]}, {scale.shape[0]}"
        )
    if cols.shape[0] and (cols.min() < 0 or cols.max() >= x.shape[1]):
        raise KernelInputError(
            f"normalise cols: expected 0..{x.shape[1] - 1}, got {cols.min()}..{cols.max()}"
        )
    if np.unique(cols).shape[0] != cols.shape[0]:
        raise KernelInputError("normalise cols: expected each column once, got duplicates")
    if resolve_target(target) == "cuda":
        from kernels import _cuda

        # Only the normalised columns cross to the GPU, as one contiguous block.
        block = np.ascontiguousarray(x[:, cols])
        local = np.arange(cols.shape[0], dtype=np.int64)
        run_cuda(_cuda.normalise, x.shape[0], [block, local, shift, scale], [0])
        x[:, cols] = block
    else:
        _cpu.normalise(x, cols, shift, scale)
    return x
