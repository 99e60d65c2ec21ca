"""CPU kernels: ``njit`` loops over rows calling the shared bodies of :mod:`kernels._bodies`.

Unchecked: call them through the public wrappers, which validate shapes, dtypes and ranges.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kernels import _bodies
from kernels._jit import JIT_OPTIONS

_hash_string = njit(**JIT_OPTIONS)(_bodies.hash_string_body)
_token_counts = njit(**JIT_OPTIONS)(_bodies.token_counts_body)
_window_event = njit(**JIT_OPTIONS)(_bodies.window_event_body)
_normalise = njit(**JIT_OPTIONS)(_bodies.normalise_body)
_one_hot = njit(**JIT_OPTIONS)(_bodies.one_hot_body)


@njit(**JIT_OPTIONS)
def hash_strings(data, offsets, valid, seed, bits, out):
    # FNV-1a is a serial multiply chain (about 4 cycles a byte), so one string at a time
    # leaves the multiplier idle; four strings side by side run about twice as fast on short
    # keys (ids). Same arithmetic as the shared body, which handles the tail; the tests check
    # both against the reference and the CUDA twin.
    n = out.shape[0]
    n4 = n - n % 4
    mask = np.uint64((1 << bits) - 1)
    start = _bodies.FNV_OFFSET ^ seed
    for i in range(0, n4, 4):
        a0, a1, a2, a3, a4 = offsets[i], offsets[i + 1], offsets[i + 2], offsets[i + 3], \
            offsets[i + 4]
        l0, l1, l2, l3 = a1 - a0, a2 - a1, a3 - a2, a4 - a3
        h0 = h1 = h2 = h3 = start
        for j in range(max(max(l0, l1), max(l2, l3))):
            if j < l0:
                h0 = (h0 ^ np.uint64(data[a0 + j])) * _bodies.FNV_PRIME
            if j < l1:
                h1 = (h1 ^ np.uint64(data[a1 + j])) * _bodies.FNV_PRIME
            if j < l2:
                h2 = (h2 ^ np.uint64(data[a2 + j])) * _bodies.FNV_PRIME
            if j < l3:
                h3 = (h3 ^ np.uint64(data[a3 + j])) * _bodies.FNV_PRIME
        out[i] = np.int64((h0 ^ (h0 >> _bodies.SHIFT_32)) & mask) if valid[i] else -1
        out[i + 1] = np.int64((h1 ^ (h1 >> _bodies.SHIFT_32)) & mask) if valid[i + 1] else -1
        out[i + 2] = np.int64((h2 ^ (h2 >> _bodies.SHIFT_32)) & mask) if valid[i + 2] else -1
        out[i + 3] = np.int64((h3 ^ (h3 >> _bodies.SHIFT_32)) & mask) if valid[i + 3] else -1
    for i in range(n4, n):
        _hash_string(i, data, offsets, valid, seed, bits, out)


@njit(**JIT_OPTIONS)
def token_counts(data, offsets, valid, seed, bits, skip_numeric, out, col0):
    for i in range(valid.shape[0]):
        _token_counts(i, data, offsets, valid, seed, bits, skip_numeric, out, col0)


@njit(**JIT_OPTIONS)
def window_update(
    ts, slot, etype, value, horizons, halflives, gap_ms, cap_ms, n_types, state, out, col0
):
    # Arrival order is the loop order: events of one entity are applied in the order given.
    for i in range(ts.shape[0]):
        _window_event(
            i, ts, slot, etype, value, horizons, halflives, gap_ms, cap_ms, n_types, state,
            out, col0,
        )


@njit(**JIT_OPTIONS)
def normalise(x, cols, shift, scale):
    for i in range(x.shape[0]):
        _normalise(i, x, cols, shift, scale)


@njit(**JIT_OPTIONS)
def one_hot(idx, width, out, col0):
    for i in range(idx.shape[0]):
        _one_hot(i, idx, width, out, col0)


_json_field = njit(**JIT_OPTIONS)(_bodies.json_field_body)


@njit(**JIT_OPTIONS)
def json_field(data, offsets, valid, key, starts, ends, kinds):
    for i in range(valid.shape[0]):
        _json_field(i, data, offsets, valid, key, starts, ends, kinds)
