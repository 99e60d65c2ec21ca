"""Numba kernels (CPU ``@njit`` and CUDA ``@cuda.jit``) over NumPy/Arrow buffers, with checked
wrappers.

Every wrapper takes ``target`` (``"cpu" | "cuda" | "auto"``, normally
``Settings.kernel_target``); CPU and CUDA run the same per-row code (:mod:`kernels._bodies`).
Call :func:`warm_up` once at start-up.
"""

from kernels._target import KernelTarget, resolve_target
from kernels.assemble import normalise, one_hot
from kernels.errors import KernelInputError, KernelTargetError
from kernels.hashing import hash_strings, hash_token_counts, string_buffers
from kernels.json_fields import JsonKind, json_field_spans, json_field_text
from kernels.warmup import warm_up
from kernels.windows import WindowLayout, window_update

__all__ = [
    "JsonKind",
    "KernelInputError",
    "KernelTarget",
    "KernelTargetError",
    "WindowLayout",
    "hash_strings",
    "hash_token_counts",
    "json_field_spans",
    "json_field_text",
    "normalise",
    "one_hot",
    "resolve_target",
    "string_buffers",
    "warm_up",
    "window_update",
]
