"""Slow, obvious reference implementations of the kernels, written from their definitions."""

from __future__ import annotations

import math

import numpy as np

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = (1 << 64) - 1


def fnv1a64(data: bytes, seed: int = 0) -> int:
    h = FNV_OFFSET ^ seed
    for byte in data:
        h = ((h ^ byte) * FNV_PRIME) & MASK64
    return h


def bucket(data: bytes, bits: int, seed: int = 0) -> int:
    h = fnv1a64(data, seed)
    return (h ^ (h >> 32)) & ((1 << bits) - 1)


def hash_strings(values: list[str | None], bits: int, seed: int = 0) -> list[int]:
    return [-1 if v is None else bucket(v.encode(), bits, seed) for v in values]


def tokens(text: str, skip_numeric: bool) -> list[bytes]:
    out, cur = [], bytearray()
    for byte in text.encode() + b" ":
        if byte < 128 and not chr(byte).isalnum():
            if cur and not (skip_numeric and cur.isdigit()):
                out.append(bytes(cur))
            cur = bytearray()
        else:
            cur.append(byte + 32 if 65 <= byte <= 90 else byte)
    return out


def token_counts(values: list[str | None], bits: int, seed: int, skip_numeric: bool):
    out = np.zeros((len(values), 1 << bits), dtype=np.float32)
    for i, v in enumerate(values):
        for tok in tokens(v, skip_numeric) if v is not None else []:
            out[i, bucket(tok, bits, seed)] += 1
    return out


def window_features(ts, entity, etype, value, n_types, horizons, halflives, gap, cap, history=None):
    """Features computed from each entity's full event history (no incremental state).

    ``history`` (entity -> dict) carries the past between calls, like the kernel's state.
    """
    history = {} if history is None else history
    rows = []
    for t_i, e, ty, v in zip(ts, entity, etype, value, strict=True):
        t_i = float(t_i)
        v = 0.0 if math.isnan(v) else float(v)
        h = history.setdefault(
            e, {"events": [], "now": None, "sessions": 0, "s_start": None, "s_events": 0}
        )
        prev_now = h["now"]
        if prev_now is None or t_i - prev_now > gap:
            h["sessions"] += 1
            h["s_start"] = t_i
            h["s_events"] = 1
        else:
            h["s_events"] += 1
        since_prev = cap if prev_now is None else max(t_i - prev_now, 0.0)
        now = t_i if prev_now is None else max(t_i, prev_now)
        h["now"] = now
        h["events"].append((t_i, ty, v))
        evs = h["events"]
        feats = []
        for u in range(n_types):
            for width in horizons:
                bn = math.floor(now / width)
                w = 1.0 - (now - bn * width) / width
                cur = [x for x in evs if x[1] == u and math.floor(x[0] / width) == bn]
                prev = [x for x in evs if x[1] == u and math.floor(x[0] / width) == bn - 1]
                feats.append(len(cur) + len(prev) * w)
                feats.append(sum(x[2] for x in cur) + sum(x[2] for x in prev) * w)
        for u in range(n_types):
            for hl in halflives:
                feats.append(sum(2.0 ** (-(now - x[0]) / hl) for x in evs if x[1] == u))
        for u in range(n_types):
            seen = [x[0] for x in evs if x[1] == u]
            feats.append((min(now - max(seen), cap) if seen else cap) / 3.6e6)
        first = min(x[0] for x in evs)
        feats += [
            len(evs),
            (now - first) / 3.6e6,
            min(since_prev, cap) / 3.6e6,
            (now - h["s_start"]) / 6e4,
            h["s_events"],
            h["sessions"],
        ]
        rows.append(feats)
    return np.array(rows, dtype=np.float64).reshape(len(rows), -1), history


def normalise(x, cols, shift, scale):
    out = x.astype(np.float64)
    for k, c in enumerate(cols):
        col = out[:, c]
        out[:, c] = np.where(np.isfinite(col), (col - shift[k]) * scale[k], 0.0)
    return out.astype(np.float32)


def one_hot(idx, width, out, col0):
    for i, j in enumerate(idx):
        if 0 <= j < width:
            out[i, col0 + j] = 1.0
    return out
