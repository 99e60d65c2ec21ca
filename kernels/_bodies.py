"""Per-row kernel bodies shared by the CPU and the CUDA kernels, and the CPU loops.

Each ``*_body`` function handles one row (one string, one event, one output row) and is
compiled twice: by ``numba.njit`` for the CPU loops at the end of this module (re-exported by
:mod:`kernels._cpu`), and by ``numba.cuda.jit(device=True)`` for the one-thread-per-row kernels
in :mod:`kernels._cuda`. One source for both is what makes the twins give identical results;
keep the bodies to the subset of Python both targets compile (scalars, ``math``, array
indexing; no allocation, no exceptions, no calls to other functions of this module, and no
builtin ``min``/``max``, which numba 0.68's CUDA target fails to type for two floats).

Hash function: 64-bit FNV-1a over the UTF-8 bytes, started from ``FNV_OFFSET ^ seed`` (so seed 0
is the published FNV-1a), then xor-folded (``h ^ (h >> 32)``) and masked to ``bits`` bits.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from kernels._jit import JIT_OPTIONS

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
SHIFT_32 = np.uint64(32)
LN2 = math.log(2.0)
MS_PER_HOUR = 3_600_000.0
MS_PER_MINUTE = 60_000.0


def _byte_tables() -> tuple[np.ndarray, np.ndarray]:
    """(class, lower-cased byte) for each byte value; class 0 separator, 1 digit, 2 token."""
    codes = np.arange(256)
    upper = (codes >= 65) & (codes <= 90)
    digit = (codes >= 48) & (codes <= 57)
    token = digit | upper | ((codes >= 97) & (codes <= 122)) | (codes >= 128)
    kind = np.where(digit, 1, np.where(token, 2, 0)).astype(np.uint8)
    return kind, np.where(upper, codes + 32, codes).astype(np.uint8)


BYTE_CLASS, LOWER = _byte_tables()  # module constants: frozen into CPU and CUDA code

# Window state row layout (see kernels.windows.WindowLayout, which mirrors these numbers).
ROW_N = 0  # events seen (0 = entity never seen: the zero row)
ROW_FIRST = 1  # first event time, epoch ms
ROW_LAST = 2  # entity clock: latest event time, epoch ms
ROW_SESSION_START = 3
ROW_SESSION_EVENTS = 4
ROW_SESSIONS = 5
ROW_HEADER = 6
ENTITY_FEATURES = 6  # n_events, tenure_h, since_prev_h, session_min, session_events, sessions


def hash_string_body(i, data, offsets, valid, seed, bits, out):
    """``out[i]`` = bucket of string ``i`` in ``[0, 2**bits)``, or -1 when it is null."""
    if valid[i] == 0:
        out[i] = -1
        return
    h = FNV_OFFSET ^ seed
    for j in range(offsets[i], offsets[i + 1]):
        h = h ^ np.uint64(data[j])
        h = h * FNV_PRIME
    mask = np.uint64((1 << bits) - 1)
    out[i] = np.int64((h ^ (h >> SHIFT_32)) & mask)


def token_counts_body(i, data, offsets, valid, seed, bits, skip_numeric, out, col0):
    """Add 1 to ``out[i, col0 + bucket(token)]`` for every token of string ``i``.

    A token is a maximal run of ASCII letters/digits and non-ASCII bytes (so UTF-8 words stay
    whole); ASCII letters are lower-cased before hashing. With ``skip_numeric``, all-digit
    tokens (pids, ports, counters) are ignored. Byte classes come from lookup tables, which
    keeps the per-byte loop to one load and one well-predicted branch.
    """
    if valid[i] == 0:
        return
    mask = np.uint64((1 << bits) - 1)
    start = FNV_OFFSET ^ seed
    h = start
    length = 0
    non_digits = 0
    for j in range(offsets[i], offsets[i + 1]):
        byte = data[j]
        kind = BYTE_CLASS[byte]
        if kind != 0:
            h = (h ^ np.uint64(LOWER[byte])) * FNV_PRIME
            length += 1
            non_digits += np.int64(kind >> 1)  # class 2 (not a digit) adds 1, branch-free
        elif length > 0:
            if non_digits > 0 or not skip_numeric:
                out[i, col0 + np.int64((h ^ (h >> SHIFT_32)) & mask)] += 1.0
            h = start
            length = 0
            non_digits = 0
    if length > 0 and (non_digits > 0 or not skip_numeric):  # the token the string ends with
        out[i, col0 + np.int64((h ^ (h >> SHIFT_32)) & mask)] += 1.0


def window_event_body(
    i, ts, slot, etype, value, horizons, halflives, gap_ms, cap_ms, n_types, state, out, col0
):
    """Apply event ``i`` to its entity's state row, then write the entity's window features.

    Times are epoch ms. The entity clock ``now`` never goes back: a late event is counted at
    its own time (decayed by its age, dropped from windows it is older than) and features are
    read at ``now``. Window counts/sums use two buckets per horizon (current and previous
    epoch-aligned bucket of width H, the previous one weighted by the part of it still inside
    the window): exact when events are uniform within a bucket, always within one bucket's
    events of the exact sliding count. A NaN value adds 0 to sums.
    """
    s = slot[i]
    t = etype[i]
    tsf = np.float64(ts[i])
    v = value[i]
    if math.isnan(v):
        v = 0.0
    n_h = horizons.shape[0]
    n_d = halflives.shape[0]
    win0 = ROW_HEADER + n_h
    dec0 = win0 + n_types * n_h * 4
    last0 = dec0 + n_types * n_d
    cnt0 = last0 + n_types
    f_dec = n_types * n_h * 2
    f_rec = f_dec + n_types * n_d
    f_ent = f_rec + n_types

    n = state[s, ROW_N]
    if n == 0.0:
        state[s, ROW_FIRST] = tsf
        state[s, ROW_LAST] = tsf
        since_prev = cap_ms
    else:
        since_prev = tsf - state[s, ROW_LAST]
        if since_prev < 0.0:
            since_prev = 0.0
    last = state[s, ROW_LAST]
    now = tsf if tsf > last else last
    if tsf < state[s, ROW_FIRST]:
        state[s, ROW_FIRST] = tsf

    # Sessions: a gap longer than gap_ms starts a new one; a late event joins the current one.
    if n == 0.0 or tsf - last > gap_ms:
        state[s, ROW_SESSIONS] += 1.0
        state[s, ROW_SESSION_START] = tsf
        state[s, ROW_SESSION_EVENTS] = 1.0
    else:
        state[s, ROW_SESSION_EVENTS] += 1.0

    # Exponentially decayed counts: decay every type to `now`, add this event by its age.
    for d in range(n_d):
        k = LN2 / halflives[d]
        factor = math.exp(-(now - last) * k)
        for u in range(n_types):
            state[s, dec0 + u * n_d + d] *= factor
        state[s, dec0 + t * n_d + d] += math.exp(-(now - tsf) * k)
        for u in range(n_types):
            out[i, col0 + f_dec + u * n_d + d] = state[s, dec0 + u * n_d + d]

    # Sliding windows from two epoch-aligned buckets per horizon.
    for h in range(n_h):
        width = horizons[h]
        bn = math.floor(now / width)
        cb = state[s, ROW_HEADER + h]
        if bn != cb:
            shift_one = bn == cb + 1.0
            for u in range(n_types):
                w0 = win0 + (u * n_h + h) * 4
                if shift_one:
                    state[s, w0 + 1] = state[s, w0]
                    state[s, w0 + 3] = state[s, w0 + 2]
                else:
                    state[s, w0 + 1] = 0.0
                    state[s, w0 + 3] = 0.0
                state[s, w0] = 0.0
                state[s, w0 + 2] = 0.0
            state[s, ROW_HEADER + h] = bn
        be = math.floor(tsf / width)
        w0 = win0 + (t * n_h + h) * 4
        if be == bn:
            state[s, w0] += 1.0
            state[s, w0 + 2] += v
        elif be == bn - 1.0:
            state[s, w0 + 1] += 1.0
            state[s, w0 + 3] += v
        weight = 1.0 - (now - bn * width) / width
        for u in range(n_types):
            w0 = win0 + (u * n_h + h) * 4
            f0 = col0 + (u * n_h + h) * 2
            out[i, f0] = state[s, w0] + state[s, w0 + 1] * weight
            out[i, f0 + 1] = state[s, w0 + 2] + state[s, w0 + 3] * weight

    # Recency per type (hours, capped; never seen = cap).
    if state[s, cnt0 + t] == 0.0 or tsf > state[s, last0 + t]:
        state[s, last0 + t] = tsf
    state[s, cnt0 + t] += 1.0
    for u in range(n_types):
        rec = cap_ms
        if state[s, cnt0 + u] > 0.0:
            rec = now - state[s, last0 + u]
            if rec > cap_ms:
                rec = cap_ms
        out[i, col0 + f_rec + u] = rec / MS_PER_HOUR

    state[s, ROW_N] = n + 1.0
    state[s, ROW_LAST] = now
    out[i, col0 + f_ent] = n + 1.0
    out[i, col0 + f_ent + 1] = (now - state[s, ROW_FIRST]) / MS_PER_HOUR
    out[i, col0 + f_ent + 2] = (since_prev if since_prev < cap_ms else cap_ms) / MS_PER_HOUR
    out[i, col0 + f_ent + 3] = (now - state[s, ROW_SESSION_START]) / MS_PER_MINUTE
    out[i, col0 + f_ent + 4] = state[s, ROW_SESSION_EVENTS]
    out[i, col0 + f_ent + 5] = state[s, ROW_SESSIONS]


def normalise_body(i, x, cols, shift, scale):
    """``x[i, c] = (x[i, c] - shift) * scale`` for each listed column; non-finite values -> 0."""
    for k in range(cols.shape[0]):
        c = cols[k]
        v = np.float64(x[i, c])
        if math.isfinite(v):
            x[i, c] = (v - shift[k]) * scale[k]
        else:
            x[i, c] = 0.0


def one_hot_body(i, idx, width, out, col0):
    """``out[i, col0 + idx[i]] = 1`` when ``0 <= idx[i] < width``; other indices set nothing."""
    j = idx[i]
    if 0 <= j < width:
        out[i, col0 + j] = 1.0


def json_field_body(i, data, offsets, valid, key, starts, ends, kinds):
    """Find top-level ``key`` in the JSON object held by string ``i``: its value's byte span.

    ``kinds[i]``: 0 absent (or not an object, or malformed before the key), 1 string (span
    inside the quotes, escapes left as written), 2 number-like literal, 3 true/false, 4 null,
    5 object or array (span not computed). One pass with a depth counter, so keys of nested
    objects and text inside strings never match; the first occurrence of a key wins; a key
    written with escapes does not match.
    """
    kinds[i] = 0
    starts[i] = 0
    ends[i] = 0
    if valid[i] == 0:
        return
    klen = key.shape[0]
    depth = 0
    expect_key = False
    key_match = False
    value_next = False
    j = offsets[i]
    end = offsets[i + 1]
    while j < end:
        c = data[j]
        if c == 32 or c == 9 or c == 10 or c == 13:
            j += 1
            continue
        if depth == 0 and c != 123:
            return  # not a JSON object
        if c == 34:  # a string: run to its closing quote in a tight loop
            first = j + 1
            j = first
            while j < end:
                d = data[j]
                if d == 34:
                    break
                if d == 92:  # backslash: the next byte is escaped
                    j += 1
                j += 1
            if j >= end:
                return  # unterminated string
            if depth == 1 and value_next:
                starts[i] = first
                ends[i] = j
                kinds[i] = 1
                return
            if depth == 1 and expect_key:
                expect_key = False
                key_match = j - first == klen
                if key_match:
                    for m in range(klen):
                        if data[first + m] != key[m]:
                            key_match = False
                            break
            j += 1
            continue
        if depth == 1 and value_next:
            if c == 123 or c == 91:
                kinds[i] = 5
                return
            k = j
            while k < end:
                d = data[k]
                if d == 44 or d == 125 or d == 93 or d == 32 or d == 9 or d == 10 or d == 13:
                    break
                k += 1
            starts[i] = j
            ends[i] = k
            if c == 116 or c == 102:  # t(rue) / f(alse)
                kinds[i] = 3
            elif c == 110:  # n(ull)
                kinds[i] = 4
            else:
                kinds[i] = 2
            return
        if c == 123 or c == 91:
            depth += 1
            expect_key = depth == 1
        elif c == 125 or c == 93:
            depth -= 1
            if depth == 0:
                return  # end of the object: key absent
        elif c == 44:
            expect_key = depth == 1
        elif c == 58:
            if depth == 1 and key_match:
                value_next = True
            key_match = False
        j += 1


def bin_index_body(i, x, edges, n_edges, out):
    """``out[i, j]`` = the histogram bin of ``x[i, j]`` against feature j's sorted edges
    ``edges[j, :n_edges[j]]``: the number of edges <= the value (0 .. n_edges[j]), found by
    binary search. A NaN goes to the last slot, ``edges.shape[1] + 1``, which the caller counts
    apart (missing values are not a bin of the distribution)."""
    for j in range(x.shape[1]):
        v = x[i, j]
        if v != v:
            out[i, j] = edges.shape[1] + 1
            continue
        lo = 0
        hi = n_edges[j]
        while lo < hi:  # first edge > v
            mid = (lo + hi) // 2
            if edges[j, mid] <= v:
                lo = mid + 1
            else:
                hi = mid
        out[i, j] = lo


# ----------------------------------------------------------------------------------------
# CPU kernels: njit loops over rows calling the bodies above. They live in this file, not in
# kernels/_cpu.py, on purpose: numba's on-disk cache (JIT_OPTIONS cache=True) is keyed on the
# source file of each jitted function only, so a loop cached from another file would keep
# running a stale copy of a body edited here. (Editing kernels/_jit.py does not invalidate
# the cache either: delete kernels/__pycache__/*.nbi and *.nbc after changing JIT options.)
# Unchecked: call them through the public wrappers, which validate shapes, dtypes and ranges.

_hash_string = njit(**JIT_OPTIONS)(hash_string_body)
_token_counts = njit(**JIT_OPTIONS)(token_counts_body)
_window_event = njit(**JIT_OPTIONS)(window_event_body)
_normalise = njit(**JIT_OPTIONS)(normalise_body)
_one_hot = njit(**JIT_OPTIONS)(one_hot_body)
_json_field = njit(**JIT_OPTIONS)(json_field_body)
_bin_index = njit(**JIT_OPTIONS)(bin_index_body)


@njit(**JIT_OPTIONS)
def hash_strings(data, offsets, valid, seed, bits, out):
    # FNV-1a is a serial multiply chain (about 4 cycles a byte), so one string at a time
    # leaves the multiplier idle; four strings side by side run about twice as fast on short
    # keys (ids). Same arithmetic as the shared body, which handles the tail; the tests check
    # both against the reference and the CUDA twin.
    n = out.shape[0]
    n4 = n - n % 4
    mask = np.uint64((1 << bits) - 1)
    start = FNV_OFFSET ^ seed
    for i in range(0, n4, 4):
        a0, a1, a2, a3, a4 = (
            offsets[i],
            offsets[i + 1],
            offsets[i + 2],
            offsets[i + 3],
            offsets[i + 4],
        )
        l0, l1, l2, l3 = a1 - a0, a2 - a1, a3 - a2, a4 - a3
        h0 = h1 = h2 = h3 = start
        for j in range(max(max(l0, l1), max(l2, l3))):
            if j < l0:
                h0 = (h0 ^ np.uint64(data[a0 + j])) * FNV_PRIME
            if j < l1:
                h1 = (h1 ^ np.uint64(data[a1 + j])) * FNV_PRIME
            if j < l2:
                h2 = (h2 ^ np.uint64(data[a2 + j])) * FNV_PRIME
            if j < l3:
                h3 = (h3 ^ np.uint64(data[a3 + j])) * FNV_PRIME
        out[i] = np.int64((h0 ^ (h0 >> SHIFT_32)) & mask) if valid[i] else -1
        out[i + 1] = np.int64((h1 ^ (h1 >> SHIFT_32)) & mask) if valid[i + 1] else -1
        out[i + 2] = np.int64((h2 ^ (h2 >> SHIFT_32)) & mask) if valid[i + 2] else -1
        out[i + 3] = np.int64((h3 ^ (h3 >> SHIFT_32)) & mask) if valid[i + 3] else -1
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
            i,
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


@njit(**JIT_OPTIONS)
def normalise(x, cols, shift, scale):
    for i in range(x.shape[0]):
        _normalise(i, x, cols, shift, scale)


@njit(**JIT_OPTIONS)
def one_hot(idx, width, out, col0):
    for i in range(idx.shape[0]):
        _one_hot(i, idx, width, out, col0)


@njit(**JIT_OPTIONS)
def json_field(data, offsets, valid, key, starts, ends, kinds):
    for i in range(valid.shape[0]):
        _json_field(i, data, offsets, valid, key, starts, ends, kinds)


@njit(**JIT_OPTIONS)
def bin_index(x, edges, n_edges, out):
    for i in range(x.shape[0]):
        _bin_index(i, x, edges, n_edges, out)
