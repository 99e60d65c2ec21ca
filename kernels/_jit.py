"""The one place that decides how Numba compiles streamscore's kernels.

Every CPU kernel is decorated with ``njit(**JIT_OPTIONS)``; nothing else passes JIT options.

- ``cache=True``: compiled machine code is kept in ``__pycache__`` next to the source, so a
  worker's start-up :func:`kernels.warm_up` loads instead of compiling after the first run.
- ``fastmath=False``: re-association and "no NaN" assumptions would make results depend on the
  compiler's choices; the feature pipeline promises bit-identical vectors offline and online and
  handles NaN explicitly, so both need strict IEEE semantics.
- ``error_model="numpy"``: a division by zero gives inf/NaN instead of raising, which removes
  a Python-exception check from every division in the hot loops (wrappers validate inputs).
- ``nogil=True``: kernels release the GIL, so a caller may run batches in threads.
- no ``parallel``: window updates must follow arrival order per entity, and the target
  machines have few cores shared with the stream workers; parallelism comes from Kafka
  partitions (more worker processes), not from threads inside one kernel.
"""

from __future__ import annotations

from typing import Any

__all__ = ["JIT_OPTIONS", "THREADS_PER_BLOCK"]

JIT_OPTIONS: dict[str, Any] = {
    "cache": True,
    "fastmath": False,
    "error_model": "numpy",
    "nogil": True,
}

THREADS_PER_BLOCK = 128
"""CUDA block size for every one-thread-per-row kernel (rows are independent)."""
