"""CPU kernels: ``njit`` loops over rows calling the shared bodies of :mod:`kernels._bodies`.

Unchecked: call them through the public wrappers, which validate shapes, dtypes and ranges.
"""

from __future__ import annotations

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
    for i in range(out.shape[0]):
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
