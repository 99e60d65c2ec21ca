"""CUDA kernels: one thread per row (per entity for window updates), same bodies as the CPU.

Imported only when the CUDA target is used, because importing ``numba.cuda`` is slow and, in
the simulator (``NUMBA_ENABLE_CUDASIM=1``), must be configured before the first import.
Unchecked: call them through the public wrappers.
"""

from __future__ import annotations

from numba import cuda

from kernels import _bodies

_hash_string = cuda.jit(device=True)(_bodies.hash_string_body)
_token_counts = cuda.jit(device=True)(_bodies.token_counts_body)
_window_event = cuda.jit(device=True)(_bodies.window_event_body)
_normalise = cuda.jit(device=True)(_bodies.normalise_body)
_one_hot = cuda.jit(device=True)(_bodies.one_hot_body)
_bin_index = cuda.jit(device=True)(_bodies.bin_index_body)


@cuda.jit
def bin_index(x, edges, n_edges, out):
    i = cuda.grid(1)
    if i < x.shape[0]:
        _bin_index(i, x, edges, n_edges, out)


@cuda.jit
def hash_strings(data, offsets, valid, seed, bits, out):
    i = cuda.grid(1)
    if i < out.shape[0]:
        _hash_string(i, data, offsets, valid, seed, bits, out)


@cuda.jit
def token_counts(data, offsets, valid, seed, bits, skip_numeric, out, col0):
    i = cuda.grid(1)
    if i < valid.shape[0]:
        _token_counts(i, data, offsets, valid, seed, bits, skip_numeric, out, col0)


@cuda.jit
def window_update(
    ts,
    slot,
    etype,
    value,
    horizons,
    halflives,
    gap_ms,
    cap_ms,
    n_types,
    state,
    out,
    col0,
    order,
    starts,
):
    # One thread per entity: group g owns events order[starts[g]:starts[g+1]], which the
    # wrapper lists in arrival order, so each entity sees the CPU's sequence of updates.
    g = cuda.grid(1)
    if g < starts.shape[0] - 1:
        for k in range(starts[g], starts[g + 1]):
            _window_event(
                order[k],
                ts,
                slot,
                etype,
                value,
                horizons,
                halflives,
                gap_ms,
                cap_ms,
                n_types,
                state,
                out,
                col0,
            )


@cuda.jit
def normalise(x, cols, shift, scale):
    i = cuda.grid(1)
    if i < x.shape[0]:
        _normalise(i, x, cols, shift, scale)


@cuda.jit
def one_hot(idx, width, out, col0):
    i = cuda.grid(1)
    if i < idx.shape[0]:
        _one_hot(i, idx, width, out, col0)


_json_field = cuda.jit(device=True)(_bodies.json_field_body)


@cuda.jit
def json_field(data, offsets, valid, key, starts, ends, kinds):
    i = cuda.grid(1)
    if i < valid.shape[0]:
        _json_field(i, data, offsets, valid, key, starts, ends, kinds)
