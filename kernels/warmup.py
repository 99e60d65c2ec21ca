"""Compile every kernel at start-up, so that no event ever waits for the JIT."""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa

from kernels._target import KernelTarget, ResolvedTarget, resolve_target
from kernels.assemble import normalise, one_hot
from kernels.hashing import hash_strings, hash_token_counts
from kernels.json_fields import json_field_spans
from kernels.partition import murmur2
from kernels.windows import WindowLayout, window_update

__all__ = ["warm_up"]


def warm_up(target: KernelTarget = "cpu") -> tuple[ResolvedTarget, float]:
    """Run every kernel once on tiny inputs through its public wrapper; return (target, seconds).

    Going through the wrappers matters: they hand kernels one canonical dtype/layout per
    argument, so the specialisations compiled here are exactly the ones used later. With
    ``cache=True`` (kernels._jit) a second process mostly loads machine code from disk.
    Raises :class:`~kernels.errors.KernelTargetError` when ``target`` cannot be used.
    """
    started = time.perf_counter()
    resolved = resolve_target(target)
    strings = pa.array(["warm up", None, "42 x"], type=pa.string())
    hash_strings(strings, 4, 1, target=resolved)
    json_field_spans(pa.array(['{"a": 1}', None]), "a", target=resolved)
    murmur2(pa.array(["key"]))  # host-side only (producers' partitioner): no CUDA twin
    x = np.zeros((3, 20), dtype=np.float32)
    hash_token_counts(strings, 2, 1, out=x, col0=1, target=resolved)
    one_hot(np.array([0, -1, 1], dtype=np.int64), 2, x, 5, target=resolved)
    layout = WindowLayout(2, (3_600_000.0,), (60_000.0,), 1_800_000.0, 86_400_000.0)
    state = layout.new_state(2)
    window_update(
        np.array([0, 1_000, 5_000], dtype=np.int64),
        np.array([0, 1, 0], dtype=np.int64),
        np.array([0, 1, 1], dtype=np.int64),
        np.array([1.0, np.nan, 2.0]),
        layout,
        state,
        np.zeros((3, layout.n_features), dtype=np.float32),
        target=resolved,
    )
    normalise(x, np.array([0, 3], dtype=np.int64), np.zeros(2), np.ones(2), target=resolved)
    return resolved, time.perf_counter() - started
