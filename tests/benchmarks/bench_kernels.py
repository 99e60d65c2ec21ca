"""Kernel and featurisation benchmark: Numba kernels vs NumPy and pure-Python versions.

    .venv/bin/python tests/benchmarks/bench_kernels.py [--n 1000000] [--python-n 50000]
    .venv/bin/python tests/benchmarks/bench_kernels.py --cuda     # on a GPU machine

Seeded workloads; JIT warmed up first; one core (Arrow's pool set to one thread; the kernels are
serial). Times are this process's CPU time (best of 3), which other jobs on a shared machine
disturb less than wall time; featurisation also prints the wall-clock rate. Every kernel runs
on ``--n`` events next to a NumPy version (same algorithm, whole-array operations) and a
pure-Python version; pure Python is timed on ``--python-n`` events and its rate scaled to
``--n`` (it would take minutes otherwise), which the table marks with ``*``. Each NumPy/Python
version is checked against the kernel's output before it is timed. Targets (issue 3): kernel
>= 50x pure Python and >= 3x NumPy; transform+vectorise >= 200k events/s.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import kernels
from kernels import WindowLayout, string_buffers
from kernels.drift import bin_counts, quantile_edges
from streams.features import FeaturePipeline, default_spec
from tests.support.events import activity_table, log_table

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
U32 = np.uint64(32)
HOUR = 3_600_000.0


def best(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times)


# ----------------------------------------------------------------------------- hashing
def np_hash_strings(values: pa.Array, bits: int, seed: int = 0) -> np.ndarray:
    data, offsets, valid = string_buffers(values)
    lens = np.diff(offsets)
    h = np.full(lens.shape[0], FNV_OFFSET ^ np.uint64(seed), dtype=np.uint64)
    for j in range(int(lens.max(initial=0))):
        m = lens > j
        h[m] = (h[m] ^ data[offsets[:-1][m] + j].astype(np.uint64)) * FNV_PRIME
    out = ((h ^ (h >> U32)) & np.uint64((1 << bits) - 1)).astype(np.int64)
    out[valid == 0] = -1
    return out


def py_fnv_bucket(data: bytes, bits: int, seed: int = 0) -> int:
    h = 0xCBF29CE484222325 ^ seed
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return (h ^ (h >> 32)) & ((1 << bits) - 1)


def py_hash_strings(values: list[str | None], bits: int) -> list[int]:
    return [-1 if v is None else py_fnv_bucket(v.encode(), bits) for v in values]


_TOKEN = re.compile(rb"[A-Za-z0-9\x80-\xff]+")


def py_token_counts(values: list[str], bits: int, seed: int) -> list[list[float]]:
    rows = []
    for v in values:
        row = [0.0] * (1 << bits)  # its output row, as the kernel zeroes its own
        for tok in _TOKEN.findall(v.encode()):
            if not tok.isdigit():
                row[py_fnv_bucket(tok.lower(), bits, seed)] += 1.0
        rows.append(row)
    return rows


def np_token_counts(values: pa.Array, bits: int, seed: int) -> np.ndarray:
    data, offsets, _ = string_buffers(values)
    base, n, width = offsets[0], offsets.shape[0] - 1, 1 << bits
    b = data[base : offsets[-1]].astype(np.int64)
    digit = (b >= 48) & (b <= 57)
    upper = (b >= 65) & (b <= 90)
    tok = digit | upper | ((b >= 97) & (b <= 122)) | (b >= 128)
    low = np.where(upper, b + 32, b).astype(np.uint64)
    row_start = np.zeros(b.shape[0] + 1, dtype=bool)
    row_start[offsets[:-1] - base] = True
    prev_tok = np.concatenate([[False], tok[:-1]])
    starts = np.flatnonzero(tok & (~prev_tok | row_start[:-1]))
    next_tok = np.concatenate([tok[1:], [False]])
    ends = np.flatnonzero(tok & (~next_tok | row_start[1:])) + 1
    lens = ends - starts
    h = np.full(starts.shape[0], FNV_OFFSET ^ np.uint64(seed), dtype=np.uint64)
    for p in range(int(lens.max(initial=0))):
        m = lens > p
        h[m] = (h[m] ^ low[starts[m] + p]) * FNV_PRIME
    non_digit = np.concatenate([[0], np.cumsum(~digit)])
    keep = (non_digit[ends] - non_digit[starts]) > 0
    rows = np.searchsorted(offsets - base, starts, side="right") - 1
    bucket = ((h ^ (h >> U32)) & np.uint64(width - 1)).astype(np.int64)
    flat = np.bincount(rows[keep] * width + bucket[keep], minlength=n * width)
    return flat.reshape(n, width).astype(np.float32)


def py_json_field(docs: list[str | None], key: str) -> list[str | None]:
    out = []
    for doc in docs:
        value = json.loads(doc).get(key) if doc is not None else None
        out.append(value if isinstance(value, str) else None)
    return out


# ----------------------------------------------------------------------------- windows
def _offsets(layout: WindowLayout) -> tuple[int, ...]:
    t, h, d = layout.n_types, len(layout.horizons_ms), len(layout.halflives_ms)
    win0 = 6 + h
    dec0 = win0 + t * h * 4
    last0 = dec0 + t * d
    cnt0 = last0 + t
    return t, h, d, win0, dec0, last0, cnt0, t * h * 2, t * h * 2 + t * d


def np_window_update(ts, slot, etype, value, layout, state, out=None) -> np.ndarray:
    """The window algorithm with NumPy: events go in rounds (the r-th event of every entity),
    each round one vectorised update over distinct entities, so per-entity order holds."""
    t_n, h_n, d_n, win0, dec0, last0, cnt0, f_dec, f_rec = _offsets(layout)
    gap, cap = layout.session_gap_ms, layout.recency_cap_ms
    n = ts.shape[0]
    if out is None:
        out = np.zeros((n, layout.n_features), dtype=np.float32)
    order = np.argsort(slot, kind="stable")
    s_sorted = slot[order]
    first = np.r_[True, s_sorted[1:] != s_sorted[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - group_start
    by_round = np.argsort(rank, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(rank))]
    types = np.arange(t_n)
    for r in range(bounds.shape[0] - 1):
        e = by_round[bounds[r] : bounds[r + 1]]
        s, t = slot[e], etype[e]
        tsf = ts[e].astype(np.float64)
        v = np.nan_to_num(value[e], nan=0.0)
        rows = state[s]
        cnt = rows[:, 0].copy()
        new = cnt == 0
        rows[new, 1] = tsf[new]
        rows[new, 2] = tsf[new]
        last = rows[:, 2].copy()
        since = np.where(new, cap, np.maximum(tsf - last, 0.0))
        now = np.maximum(tsf, last)
        rows[:, 1] = np.minimum(rows[:, 1], tsf)
        fresh = new | (tsf - last > gap)
        rows[:, 5] += fresh
        rows[:, 3] = np.where(fresh, tsf, rows[:, 3])
        rows[:, 4] = np.where(fresh, 1.0, rows[:, 4] + 1.0)
        k_idx = np.arange(e.shape[0])
        for d in range(d_n):
            k = math.log(2.0) / layout.halflives_ms[d]
            cols = dec0 + types * d_n + d
            rows[:, cols] *= np.exp(-(now - last) * k)[:, None]
            rows[k_idx, dec0 + t * d_n + d] += np.exp(-(now - tsf) * k)
            out[e[:, None], f_dec + types * d_n + d] = rows[:, cols]
        for h in range(h_n):
            width = layout.horizons_ms[h]
            bn = np.floor(now / width)
            cb = rows[:, 6 + h]
            changed = (bn != cb)[:, None]
            shift1 = (bn == cb + 1.0)[:, None]
            c0 = win0 + (types * h_n + h) * 4
            cur, cur_sum = rows[:, c0], rows[:, c0 + 2]
            rows[:, c0 + 1] = np.where(changed, np.where(shift1, cur, 0.0), rows[:, c0 + 1])
            rows[:, c0 + 3] = np.where(changed, np.where(shift1, cur_sum, 0.0), rows[:, c0 + 3])
            rows[:, c0] = np.where(changed, 0.0, cur)
            rows[:, c0 + 2] = np.where(changed, 0.0, cur_sum)
            rows[:, 6 + h] = bn
            be = np.floor(tsf / width)
            mine = win0 + (t * h_n + h) * 4
            in_cur, in_prev = be == bn, be == bn - 1.0
            rows[k_idx[in_cur], mine[in_cur]] += 1.0
            rows[k_idx[in_cur], mine[in_cur] + 2] += v[in_cur]
            rows[k_idx[in_prev], mine[in_prev] + 1] += 1.0
            rows[k_idx[in_prev], mine[in_prev] + 3] += v[in_prev]
            w = (1.0 - (now - bn * width) / width)[:, None]
            f0 = (types * h_n + h) * 2
            out[e[:, None], f0] = rows[:, c0] + rows[:, c0 + 1] * w
            out[e[:, None], f0 + 1] = rows[:, c0 + 2] + rows[:, c0 + 3] * w
        seen = rows[k_idx, cnt0 + t] > 0
        rows[k_idx, last0 + t] = np.where(seen, np.maximum(rows[k_idx, last0 + t], tsf), tsf)
        rows[k_idx, cnt0 + t] += 1.0
        rec = np.where(
            rows[:, cnt0 + types] > 0, np.minimum(now[:, None] - rows[:, last0 + types], cap), cap
        )
        out[e[:, None], f_rec + types] = rec / HOUR
        rows[:, 0] = cnt + 1.0
        rows[:, 2] = now
        f_ent = f_rec + t_n
        out[e, f_ent] = cnt + 1.0
        out[e, f_ent + 1] = (now - rows[:, 1]) / HOUR
        out[e, f_ent + 2] = np.minimum(since, cap) / HOUR
        out[e, f_ent + 3] = (now - rows[:, 3]) / 60_000.0
        out[e, f_ent + 4] = rows[:, 4]
        out[e, f_ent + 5] = rows[:, 5]
        state[s] = rows
    return out


def py_window_update(ts, slot, etype, value, layout) -> list[list[float]]:
    """The window algorithm in plain Python: a list per entity, a loop per event."""
    t_n, h_n, d_n, win0, dec0, last0, cnt0, f_dec, f_rec = _offsets(layout)
    gap, cap = layout.session_gap_ms, layout.recency_cap_ms
    horizons, halflives = layout.horizons_ms, layout.halflives_ms
    states: dict[int, list[float]] = {}
    out = []
    for tsi, s, t, v in zip(ts, slot, etype, value, strict=True):
        tsf = float(tsi)
        v = 0.0 if v != v else v
        row = states.setdefault(s, [0.0] * layout.row_width)
        f = [0.0] * layout.n_features
        n = row[0]
        if n == 0:
            row[1] = row[2] = tsf
            since = cap
        else:
            since = max(tsf - row[2], 0.0)
        last = row[2]
        now = max(tsf, last)
        row[1] = min(row[1], tsf)
        if n == 0 or tsf - last > gap:
            row[5] += 1.0
            row[3] = tsf
            row[4] = 1.0
        else:
            row[4] += 1.0
        for d in range(d_n):
            k = math.log(2.0) / halflives[d]
            factor = math.exp(-(now - last) * k)
            for u in range(t_n):
                row[dec0 + u * d_n + d] *= factor
            row[dec0 + t * d_n + d] += math.exp(-(now - tsf) * k)
            for u in range(t_n):
                f[f_dec + u * d_n + d] = row[dec0 + u * d_n + d]
        for h in range(h_n):
            width = horizons[h]
            bn = math.floor(now / width)
            if bn != row[6 + h]:
                one = bn == row[6 + h] + 1
                for u in range(t_n):
                    w0 = win0 + (u * h_n + h) * 4
                    row[w0 + 1] = row[w0] if one else 0.0
                    row[w0 + 3] = row[w0 + 2] if one else 0.0
                    row[w0] = row[w0 + 2] = 0.0
                row[6 + h] = bn
            be = math.floor(tsf / width)
            w0 = win0 + (t * h_n + h) * 4
            if be == bn:
                row[w0] += 1.0
                row[w0 + 2] += v
            elif be == bn - 1:
                row[w0 + 1] += 1.0
                row[w0 + 3] += v
            weight = 1.0 - (now - bn * width) / width
            for u in range(t_n):
                w0 = win0 + (u * h_n + h) * 4
                f[(u * h_n + h) * 2] = row[w0] + row[w0 + 1] * weight
                f[(u * h_n + h) * 2 + 1] = row[w0 + 2] + row[w0 + 3] * weight
        row[last0 + t] = tsf if row[cnt0 + t] == 0 else max(row[last0 + t], tsf)
        row[cnt0 + t] += 1.0
        for u in range(t_n):
            rec = min(now - row[last0 + u], cap) if row[cnt0 + u] > 0 else cap
            f[f_rec + u] = rec / HOUR
        row[0] = n + 1.0
        row[2] = now
        e0 = f_rec + t_n
        f[e0 : e0 + 6] = [
            n + 1.0,
            (now - row[1]) / HOUR,
            min(since, cap) / HOUR,
            (now - row[3]) / 60_000.0,
            row[4],
            row[5],
        ]
        out.append(f)
    return out


# ----------------------------------------------------------------------------- assembly
def np_normalise(x, cols, shift, scale):
    block = x[:, cols].astype(np.float64)
    x[:, cols] = np.where(np.isfinite(block), (block - shift) * scale, 0.0)
    return x


def py_normalise(rows, cols, shift, scale):
    for row in rows:
        for k, c in enumerate(cols):
            v = row[c]
            row[c] = (v - shift[k]) * scale[k] if math.isfinite(v) else 0.0
    return rows


def np_one_hot(idx, width, out, col0):
    ok = (idx >= 0) & (idx < width)
    out[np.flatnonzero(ok), col0 + idx[ok]] = 1.0
    return out


def py_one_hot(idx, width, rows, col0):
    for i, j in enumerate(idx):
        if 0 <= j < width:
            rows[i][col0 + j] = 1.0
    return rows


# ----------------------------------------------------------------------------- main
def row(name: str, n: int, t_k: float, t_np: float, t_py: float, scaled: bool) -> None:
    mark = "*" if scaled else " "
    print(
        f"{name:<22} {n:>9,} {t_k * 1e3:>10.1f} {t_np * 1e3:>10.1f} {t_py * 1e3:>11.0f}{mark} "
        f"{t_np / t_k:>8.1f}x {t_py / t_k:>9.0f}x {n / t_k / 1e6:>9.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--python-n", type=int, default=50_000)
    parser.add_argument(
        "--cuda",
        action="store_true",
        help="also time every kernel and the pipeline on the CUDA target "
        "(needs a GPU), against the CPU on the same machine",
    )
    args = parser.parse_args()
    n, n_py = args.n, min(args.python_n, args.n)
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    target, warm_s = kernels.warm_up("cpu")
    print(f"warm_up({target}): {warm_s:.2f} s; numpy {np.__version__}, pyarrow {pa.__version__}")
    if args.cuda:
        cuda_rows(n)
        return
    kernel_rows(n, n_py)  # its big arrays are freed on return
    featurise(n)


def cuda_rows(n: int) -> None:
    """CPU vs CUDA target through the same wrappers (GPU times include host<->device copies).

    Wall-clock time: GPU work is not this process's CPU time. Results are compared, not
    asserted equal: a GPU's exp() may differ from the CPU's in the last bit.
    """
    resolved, warm_s = kernels.warm_up("cuda")
    print(f"warm_up({resolved}): {warm_s:.2f} s")
    rng = np.random.default_rng(42)
    ids = pa.array(np.char.add("user-", rng.integers(0, 10**7, size=n).astype(str)))
    messages = log_table(n, seed=1).column("message").combine_chunks()
    props = activity_table(n, seed=3).column("properties").combine_chunks()
    layout = WindowLayout(
        13,
        (HOUR, 24 * HOUR, 7 * 24 * HOUR, 30 * 24 * HOUR),
        (24 * HOUR, 7 * 24 * HOUR),
        1_800_000.0,
        90 * 24 * HOUR,
    )
    users = max(n // 100, 1)
    ts = 1_700_000_000_000 + np.cumsum(rng.exponential(3_000.0, size=n)).astype(np.int64)
    slot = rng.integers(0, users, size=n).astype(np.int64)
    etype = rng.integers(0, 13, size=n).astype(np.int64)
    value = rng.gamma(2.0, 10.0, size=n)
    x = rng.normal(size=(n, 32)).astype(np.float32)
    cols = np.arange(0, 32, 2, dtype=np.int64)
    shift, scale = rng.normal(size=16), rng.random(16) + 0.5
    idx = rng.integers(-1, 13, size=n).astype(np.int64)
    edges, n_edges = quantile_edges(x[:100_000], bins=10)
    jobs = {
        "hash_strings": lambda t: kernels.hash_strings(ids, 20, target=t),
        "hash_token_counts": lambda t: kernels.hash_token_counts(messages, 8, 3, target=t),
        "json_field_spans": lambda t: kernels.json_field_spans(props, "plan", target=t)[3],
        "window_update": lambda t: kernels.window_update(
            ts, slot, etype, value, layout, layout.new_state(users), target=t
        ),
        "normalise": lambda t: kernels.normalise(x.copy(), cols, shift, scale, target=t),
        "one_hot": lambda t: kernels.one_hot(idx, 13, np.zeros((n, 32), np.float32), 3, target=t),
        "drift bin_counts": lambda t: bin_counts(x, edges, n_edges, target=t),
    }
    print(
        f"\n{'kernel':<20} {'events':>9} {'cpu ms':>9} {'cuda ms':>9} {'speedup':>9} "
        f"{'max |diff|':>11}"
    )
    for name, job in jobs.items():
        got = {}
        took = {}
        for t in ("cpu", "cuda"):
            got[t] = job(t)
            times = []
            for _ in range(3):
                start = time.perf_counter()
                job(t)
                times.append(time.perf_counter() - start)
            took[t] = min(times)
        diff = float(
            np.nanmax(
                np.abs(got["cpu"].astype(np.float64) - got["cuda"].astype(np.float64)), initial=0.0
            )
        )
        print(
            f"{name:<20} {n:>9,} {took['cpu'] * 1e3:>9.1f} {took['cuda'] * 1e3:>9.1f} "
            f"{took['cpu'] / took['cuda']:>8.2f}x {diff:>11.3g}"
        )
    table = activity_table(n, seed=7, n_users=users)
    for t in ("cpu", "cuda"):
        fitted = FeaturePipeline(default_spec(), target=t).fit(table.slice(0, 100_000))
        state = fitted.new_state()
        start = time.perf_counter()
        for offset in range(0, n, 100_000):
            fitted.transform(table.slice(offset, 100_000), state)
        wall = time.perf_counter() - start
        print(f"featurise activity on {t:<4}: {n / wall:>11,.0f} events/s (wall, 100k batches)")


def kernel_rows(n: int, n_py: int) -> None:
    """One table row per kernel: Numba vs NumPy vs pure Python, same input, checked equal."""
    scale_py = n / n_py
    rng = np.random.default_rng(42)

    print(
        f"\n{'kernel':<22} {'events':>9} {'numba ms':>10} {'numpy ms':>10} {'python ms':>12} "
        f"{'vs numpy':>9} {'vs python':>10} {'Mev/s':>9}"
    )

    ids = pa.array(np.char.add("user-", rng.integers(0, 10**7, size=n).astype(str)))
    got = kernels.hash_strings(ids, 20)
    assert np.array_equal(got, np_hash_strings(ids, 20))
    assert got[:200].tolist() == py_hash_strings(ids.slice(0, 200).to_pylist(), 20)
    small = ids.slice(0, n_py).to_pylist()
    row(
        "hash_strings (ids)",
        n,
        best(lambda: kernels.hash_strings(ids, 20)),
        best(lambda: np_hash_strings(ids, 20)),
        best(lambda: py_hash_strings(small, 20), 1) * scale_py,
        True,
    )

    # Token counts write a 256-wide float32 row per message: 1 GB for 1M messages in one call,
    # where writes to memory dominate. The stream layer calls it per micro-batch, whose output
    # stays in cache, so the main row runs 1,000-message batches for kernel and NumPy alike;
    # the kernel zeroes and reuses one output buffer (a fresh np.zeros per batch measures the
    # allocator's page faults instead: glibc hands the freed block back to the OS each time);
    # NumPy's bincount allocates its own; Python makes a list per row. The one-call figures
    # follow for reference.
    messages = log_table(n, seed=1).column("message").combine_chunks()
    got = kernels.hash_token_counts(messages, 8, 3)
    assert np.array_equal(got, np_token_counts(messages, 8, 3))
    want = py_token_counts(messages.slice(0, 200).to_pylist(), 8, 3)
    assert np.array_equal(got[:200], want)
    del got
    small = messages.slice(0, n_py).to_pylist()

    def batched(fn: Callable[[pa.Array], object], size: int = 1000) -> Callable[[], None]:
        return lambda: [fn(messages.slice(a, size)) for a in range(0, n, size)]

    buffer = np.zeros((1000, 256), dtype=np.float32)

    def kernel_batch(m: pa.Array) -> np.ndarray:
        out = buffer[: len(m)]
        out.fill(0.0)
        return kernels.hash_token_counts(m, 8, 3, out=out)

    row(
        "hash_token_counts",
        n,
        best(batched(kernel_batch)),
        best(batched(lambda m: np_token_counts(m, 8, 3))),
        best(lambda: py_token_counts(small, 8, 3), 1) * scale_py,
        True,
    )
    t_one = best(lambda: kernels.hash_token_counts(messages, 8, 3), 1)
    t_np_one = best(lambda: np_token_counts(messages, 8, 3), 1)
    print(
        f"{'':<22} (in 1k batches; as one call with a {n * 1024 / 2**20:,.0f} MiB output: "
        f"numba {t_one * 1e3:.0f} ms, numpy {t_np_one * 1e3:.0f} ms)"
    )

    # JSON field: no sensible NumPy formulation of a JSON scan exists, so the middle baseline
    # is what the kernel replaced: Arrow's vectorised regular expression (RE2, C++).
    props = activity_table(n, seed=3).column("properties").combine_chunks()
    pattern = r'"plan"\s*:\s*"(?P<v>(?:[^"\\]|\\.)*)"'
    got = kernels.json_field_text(props, "plan")
    via_regex = pc.struct_field(pc.extract_regex(props, pattern), "v")
    assert got.equals(via_regex)
    small = props.slice(0, n_py).to_pylist()
    assert got.slice(0, 1000).to_pylist() == py_json_field(small[:1000], "plan")
    row(
        "json_field_text",
        n,
        best(lambda: kernels.json_field_text(props, "plan")),
        best(lambda: pc.struct_field(pc.extract_regex(props, pattern), "v")),
        best(lambda: py_json_field(small, "plan"), 1) * scale_py,
        True,
    )
    print(f"{'':<22} (middle column: pyarrow extract_regex, not NumPy; Python: json.loads)")

    layout = WindowLayout(
        13,
        (HOUR, 24 * HOUR, 7 * 24 * HOUR, 30 * 24 * HOUR),
        (24 * HOUR, 7 * 24 * HOUR),
        1_800_000.0,
        90 * 24 * HOUR,
    )
    n_users = max(n // 100, 1)
    ts = 1_700_000_000_000 + np.cumsum(rng.exponential(3_000.0, size=n)).astype(np.int64)
    slot = rng.integers(0, n_users, size=n).astype(np.int64)
    etype = rng.integers(0, 13, size=n).astype(np.int64)
    value = rng.gamma(2.0, 10.0, size=n)

    # Kernel and NumPy write into one output made beforehand (600 MB at 1M events: making it
    # anew each time would time the page faults); Python builds its lists as it goes.
    out = np.zeros((n, layout.n_features), dtype=np.float32)

    def numba_windows():
        return kernels.window_update(ts, slot, etype, value, layout, layout.new_state(n_users), out)

    got = numba_windows()
    k = min(n, 20_000)
    np.testing.assert_allclose(
        np_window_update(ts[:k], slot[:k], etype[:k], value[:k], layout, layout.new_state(n_users)),
        got[:k],
        rtol=1e-5,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        np.array(
            py_window_update(ts[:2000], slot[:2000], etype[:2000], value[:2000], layout),
            dtype=np.float32,
        ),
        got[:2000],
        rtol=1e-5,
        atol=1e-5,
    )
    t_np = best(
        lambda: np_window_update(ts, slot, etype, value, layout, layout.new_state(n_users), out), 1
    )
    t_py = (
        best(
            lambda: py_window_update(ts[:n_py], slot[:n_py], etype[:n_py], value[:n_py], layout), 1
        )
        * scale_py
    )
    row("window_update", n, best(numba_windows), t_np, t_py, True)
    print(
        f"{'':<22} ({n_users:,} entities, {layout.n_types} types, 4 horizons, "
        f"2 half-lives: {layout.n_features} features/event)"
    )

    x = rng.normal(size=(n, 32)).astype(np.float32)
    x[rng.random(x.shape) < 0.01] = np.nan
    cols = np.arange(0, 32, 2, dtype=np.int64)
    shift, scale = rng.normal(size=16), rng.random(16) + 0.5
    assert np.array_equal(
        kernels.normalise(x.copy(), cols, shift, scale),
        np_normalise(x.copy(), cols, shift, scale),
        equal_nan=True,
    )
    rows_py = x[:n_py].tolist()
    row(
        "normalise (16 cols)",
        n,
        best(lambda: kernels.normalise(x, cols, shift, scale)),
        best(lambda: np_normalise(x, cols, shift, scale)),
        best(lambda: py_normalise(rows_py, cols.tolist(), shift.tolist(), scale.tolist()), 1)
        * scale_py,
        True,
    )

    idx = rng.integers(-1, 13, size=n).astype(np.int64)
    out = np.zeros((n, 32), dtype=np.float32)
    assert np.array_equal(
        kernels.one_hot(idx, 13, out.copy(), 3), np_one_hot(idx, 13, out.copy(), 3)
    )
    rows_py = np.zeros((n_py, 32), np.float32).tolist()
    idx_py = idx[:n_py].tolist()
    row(
        "one_hot (13 wide)",
        n,
        best(lambda: kernels.one_hot(idx, 13, out, 3)),
        best(lambda: np_one_hot(idx, 13, out, 3)),
        best(lambda: py_one_hot(idx_py, 13, rows_py, 3), 1) * scale_py,
        True,
    )
    print("* pure Python timed on", f"{n_py:,}", "events and scaled to", f"{n:,}")


def featurise(n: int) -> None:
    """Transform+vectorise throughput of the default specs on prebuilt Arrow tables."""
    print(
        f"\n{'featurise (transform+vectorise)':<40} {'events':>9} {'cpu s':>8} {'ev/cpu-s':>11} "
        f"{'ev/wall-s':>11}"
    )
    for kind, make in (("activity", activity_table), ("logs", log_table)):
        table = make(n, seed=7) if kind == "logs" else make(n, seed=7, n_users=max(n // 100, 1))
        fitted = FeaturePipeline(default_spec(kind)).fit(table.slice(0, 100_000))
        for batch in (100_000, 10_000, 1_000):
            use = table if batch >= 10_000 else table.slice(0, min(n, 200_000))
            state = fitted.new_state()
            start, wall = time.process_time(), time.perf_counter()
            for offset in range(0, len(use), batch):
                fitted.transform(use.slice(offset, batch), state)
            took, wall = time.process_time() - start, time.perf_counter() - wall
            label = f"{kind} ({len(fitted.names)} feats), batches of {batch:,}"
            print(
                f"{label:<40} {len(use):>9,} {took:>8.2f} {len(use) / took:>11,.0f} "
                f"{len(use) / wall:>11,.0f}"
            )


if __name__ == "__main__":
    main()
