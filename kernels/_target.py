"""Choosing where kernels run (Settings.kernel_target) and launching the CUDA twins."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal, get_args

import numpy as np

from kernels._jit import THREADS_PER_BLOCK
from kernels.errors import KernelInputError, KernelTargetError

__all__ = [
    "KernelTarget",
    "ResolvedTarget",
    "check_out",
    "require",
    "resolve_target",
    "run_cuda",
    "run_cuda_on_columns",
]

KernelTarget = Literal["cpu", "cuda", "auto"]
ResolvedTarget = Literal["cpu", "cuda"]


def resolve_target(target: KernelTarget) -> ResolvedTarget:
    """Map a configured target to the one kernels will use.

    ``"auto"`` is CUDA only when ``numba.cuda.is_available()`` (a GPU, or the simulator with
    ``NUMBA_ENABLE_CUDASIM=1``), else CPU. Raises :class:`KernelTargetError` for ``"cuda"`` on a
    machine without one, and for an unknown name.
    """
    if target == "cpu":
        return "cpu"
    if target not in get_args(KernelTarget):
        raise KernelTargetError(
            f"choosing the kernel target: expected one of {get_args(KernelTarget)}, got {target!r}"
        )
    from numba import cuda  # imported here: slow, and only needed when CUDA may be used

    available = bool(cuda.is_available())
    if target == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise KernelTargetError(
            "kernel target 'cuda' was requested but numba.cuda finds no usable GPU; "
            "set STREAMSCORE_KERNEL_TARGET=cpu or auto (or NUMBA_ENABLE_CUDASIM=1 to simulate)"
        )
    return "cuda"


def require(name: str, array: Any, dtype: type, ndim: int) -> np.ndarray:
    """``array`` as a writable C-contiguous array of ``dtype`` (copying only when needed).

    Kernels are compiled per dtype/layout/read-only flag; handing them one canonical form
    keeps :func:`kernels.warm_up` covering every specialisation used later.
    """
    arr = np.asarray(array)
    if arr.ndim != ndim:
        raise KernelInputError(f"{name}: expected a {ndim}-D array, got shape {arr.shape}")
    if arr.dtype != dtype and not np.can_cast(arr.dtype, dtype, casting="same_kind"):
        raise KernelInputError(
            f"{name}: expected dtype {np.dtype(dtype).name} (or safely castable), "
            f"got {arr.dtype.name}"
        )
    return np.require(arr, dtype=dtype, requirements=["C", "W"])


def check_out(name: str, out: Any, dtype: type, rows: int | None, min_cols: int) -> np.ndarray:
    """Validate an in-place output matrix: exact dtype, C order, writable, big enough.

    ``rows`` None accepts any number of rows.
    """
    if not isinstance(out, np.ndarray) or out.dtype != dtype or out.ndim != 2:
        found = f"{out.dtype.name} {out.ndim}-D" if isinstance(out, np.ndarray) else type(out)
        raise KernelInputError(f"{name}: expected a 2-D {np.dtype(dtype).name} array, got {found}")
    if not (out.flags.c_contiguous and out.flags.writeable):
        raise KernelInputError(
            f"{name}: expected a writable C-contiguous array, got a view or read-only array "
            "(pass np.ascontiguousarray(...) or a fresh np.zeros)"
        )
    if (rows is not None and out.shape[0] != rows) or out.shape[1] < min_cols:
        raise KernelInputError(
            f"{name}: expected shape ({rows if rows is not None else 'any'}, >= {min_cols}), "
            f"got {out.shape}"
        )
    return out


def run_cuda(
    kernel: Callable[..., Any], n_threads: int, args: Sequence[Any], outputs: Sequence[int]
) -> None:
    """Launch ``kernel`` with one thread per unit of work; copy ``args[k]`` back for k in outputs.

    Arrays travel host -> device -> host on every call: simple and correct; a pipeline that
    kept its matrices on the GPU between steps would avoid the copies. Wrappers writing a few
    columns of a wide matrix pass only those columns (:func:`run_cuda_on_columns`).
    """
    if n_threads == 0:
        return
    from numba import cuda

    dev = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in args]
    blocks = math.ceil(n_threads / THREADS_PER_BLOCK)
    kernel[blocks, THREADS_PER_BLOCK](*dev)
    for k in outputs:
        dev[k].copy_to_host(args[k])


def run_cuda_on_columns(
    kernel: Callable[..., Any],
    n_threads: int,
    args: Sequence[Any],
    out_index: int,
    col0_index: int,
    width: int,
    outputs: Sequence[int] = (),
) -> None:
    """Like :func:`run_cuda` for a kernel writing columns ``col0 .. col0 + width`` of
    ``args[out_index]``: only a contiguous copy of those columns crosses to the GPU and back
    (not the whole feature matrix), then it is written into place."""
    out, col0 = args[out_index], int(args[col0_index])
    block = np.ascontiguousarray(out[:, col0 : col0 + width])
    call = list(args)
    call[out_index], call[col0_index] = block, 0
    run_cuda(kernel, n_threads, call, [out_index, *outputs])  # other outputs: same objects
    out[:, col0 : col0 + width] = block
