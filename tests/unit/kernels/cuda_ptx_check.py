"""Compile every CUDA twin (and each shared body) to PTX for a real GPU, without a GPU.

The CUDA simulator runs the kernels as Python, so it cannot tell whether numba's CUDA target
can type and lower them; NVVM can. Needs libNVVM (CUDA toolkit, or the pip wheel
``nvidia-cuda-nvcc-cu12`` with ``CUDA_HOME=<site-packages>/nvidia/cuda_nvcc``). Run by
test_cuda_ptx.py in a child process; not collected by pytest.

Without a driver and CUDA runtime numba cannot ask a device for its compute capability, so
this script tells it: sm_90 (H100/H200). Those two patches touch only this process.
"""

from __future__ import annotations

import types as pytypes

from numba import cuda
from numba import types as t
from numba.cuda import dispatcher
from numba.cuda.cudadrv import nvvm

from kernels import _bodies, _cuda

CC = (9, 0)
nvvm.get_supported_ccs = lambda: (CC,)
dispatcher.get_current_device = lambda: pytypes.SimpleNamespace(compute_capability=CC)

U8 = t.Array(t.uint8, 1, "C")
I64 = t.Array(t.int64, 1, "C")
F64 = t.Array(t.float64, 1, "C")
F32_2 = t.Array(t.float32, 2, "C")
F64_2 = t.Array(t.float64, 2, "C")
KERNELS = {  # the argument types the wrappers pass (see kernels.warm_up)
    "hash_strings": (U8, I64, U8, t.uint64, t.int64, I64),
    "token_counts": (U8, I64, U8, t.uint64, t.int64, t.boolean, F32_2, t.int64),
    "window_update": (
        I64,
        I64,
        I64,
        F64,
        F64,
        F64,
        t.float64,
        t.float64,
        t.int64,
        F64_2,
        F32_2,
        t.int64,
        I64,
        I64,
    ),
    "normalise": (F32_2, I64, F64, F64),
    "one_hot": (I64, t.int64, F32_2, t.int64),
    "json_field": (U8, I64, U8, U8, I64, I64, t.Array(t.int8, 1, "C")),
}
BODIES = {
    "hash_string_body": (t.int64, *KERNELS["hash_strings"]),
    "token_counts_body": (t.int64, *KERNELS["token_counts"]),
    "window_event_body": (t.int64, *KERNELS["window_update"][:-2]),
    "normalise_body": (t.int64, *KERNELS["normalise"]),
    "one_hot_body": (t.int64, *KERNELS["one_hot"]),
    "json_field_body": (t.int64, *KERNELS["json_field"]),
}


def main() -> None:
    for name, sig in BODIES.items():
        ptx, _ = cuda.compile_ptx(getattr(_bodies, name), sig, device=True, cc=CC)
        print(f"body {name}: {len(ptx):,} chars of PTX")
    for name, sig in KERNELS.items():
        ptx, _ = cuda.compile_ptx(getattr(_cuda, name).py_func, sig, cc=CC)
        assert ".entry" in ptx, name
        print(f"kernel {name}: {len(ptx):,} chars of PTX")
    print("ALL OK")


if __name__ == "__main__":
    main()
