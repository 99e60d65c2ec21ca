"""Kafka's default partitioner (murmur2 of the key bytes), vectorised over Arrow strings.

The Java client, Faust/aiokafka and librdkafka's ``murmur2_random`` all put key ``k`` on
partition ``(murmur2(k) & 0x7fffffff) % n``. streamscore's producers use it for every keyed
record, and split Arrow batches of many entities by it, so an entity's events (JSON or Arrow)
always reach the same partition, where its window state lives.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from kernels._jit import JIT_OPTIONS
from kernels.errors import KernelInputError
from kernels.hashing import string_buffers

__all__ = ["kafka_partitions", "murmur2"]


@njit(**JIT_OPTIONS)
def _murmur2_kernel(data, offsets, out):
    # 64-bit arithmetic masked to 32 bits: Numba widens uint32 products, Java's int wraps.
    mask = np.uint64(0xFFFFFFFF)
    m = np.uint64(0x5BD1E995)
    for i in range(out.shape[0]):
        start = offsets[i]
        length = offsets[i + 1] - start
        h = (np.uint64(0x9747B28C) ^ np.uint64(length)) & mask
        n4 = length // 4
        for j in range(n4):
            p = start + 4 * j
            k = (
                np.uint64(data[p])
                | (np.uint64(data[p + 1]) << np.uint64(8))
                | (np.uint64(data[p + 2]) << np.uint64(16))
                | (np.uint64(data[p + 3]) << np.uint64(24))
            )
            k = (k * m) & mask
            k ^= k >> np.uint64(24)
            k = (k * m) & mask
            h = ((h * m) & mask) ^ k
        tail = start + 4 * n4
        rest = length % 4
        if rest == 3:
            h ^= np.uint64(data[tail + 2]) << np.uint64(16)
        if rest >= 2:
            h ^= np.uint64(data[tail + 1]) << np.uint64(8)
        if rest >= 1:
            h ^= np.uint64(data[tail])
            h = (h * m) & mask
        h ^= h >> np.uint64(13)
        h = (h * m) & mask
        h ^= h >> np.uint64(15)
        out[i] = np.uint32(h)


def murmur2(keys: Any) -> np.ndarray:
    """Kafka's murmur2 (uint32) of each key's UTF-8 bytes.

    ``keys``: a pyarrow string array or a sequence of ``str``; raises
    :class:`~kernels.errors.KernelInputError` on a null key (a null key has no partition).
    """
    data, offsets, valid = string_buffers(keys)
    if valid.size and not valid.all():
        raise KernelInputError(
            f"partitioning keys: expected a key on every record, found {int((valid == 0).sum())} "
            "null(s)"
        )
    out = np.empty(len(offsets) - 1, dtype=np.uint32)
    _murmur2_kernel(data, offsets, out)
    return out


def kafka_partitions(keys: Any, num_partitions: int) -> np.ndarray:
    """The partition (int32) Kafka's default partitioner gives each key, for ``num_partitions``."""
    if num_partitions < 1:
        raise KernelInputError(f"partitioning: expected num_partitions >= 1, got {num_partitions}")
    h = murmur2(keys) & np.uint32(0x7FFFFFFF)
    return (h % np.uint32(num_partitions)).astype(np.int32)
