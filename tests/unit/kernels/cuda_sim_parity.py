"""CPU vs CUDA parity checks, run by test_cuda_sim.py in a subprocess with the CUDA simulator
(and by tests/benchmarks/gpu_check.sh on a real GPU).

Not collected by pytest (no ``test_`` prefix): ``NUMBA_ENABLE_CUDASIM=1`` must be set before
``numba.cuda`` is first imported, which a module of the main test run cannot guarantee.
Exits non-zero (AssertionError) on the first difference; prints one line per check.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from kernels import (
    WindowLayout,
    hash_strings,
    hash_token_counts,
    json_field_spans,
    normalise,
    one_hot,
    resolve_target,
    warm_up,
    window_update,
)
from tests.unit.kernels.test_hashing import random_strings
from tests.unit.kernels.test_json_fields import random_documents
from tests.unit.kernels.test_windows import LAYOUT, random_events

_EXACT = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-equal in the simulator; on a real GPU, exp() may differ from the CPU's in the last
    bits, so the decayed window values are compared to 1e-12 relative."""
    if _EXACT:
        return np.array_equal(a, b)
    return np.allclose(a, b, rtol=1e-12, atol=1e-300, equal_nan=True)


def check_drift(rng: np.random.Generator) -> None:
    from kernels.drift import bin_counts, quantile_edges
    from tests.unit.kernels.test_drift import random_matrix

    edges, n_edges = quantile_edges(random_matrix(rng, 3000, 6), bins=10)
    for n in (0, 1, 333):
        x = random_matrix(rng, n, 6)
        cpu = bin_counts(x, edges, n_edges, target="cpu")
        gpu = bin_counts(x, edges, n_edges, target="cuda")
        assert np.array_equal(cpu, gpu), n
    print("drift: identical")


def check_hashing(rng: np.random.Generator) -> None:
    for values in (random_strings(rng, 200), [], [None], ["x" * 5000, "", "a b 12 c"]):
        for bits, seed in ((1, 0), (13, 99), (30, 2**64 - 1)):
            cpu = hash_strings(values, bits, seed, target="cpu")
            gpu = hash_strings(values, bits, seed, target="cuda")
            assert np.array_equal(cpu, gpu), (values[:3], bits, seed)
        for skip in (True, False):
            cpu = hash_token_counts(values, 5, 3, skip_numeric=skip, target="cpu")
            gpu = hash_token_counts(values, 5, 3, skip_numeric=skip, target="cuda")
            assert np.array_equal(cpu, gpu)
        # into a block of a wider matrix that already holds values (only the block moves)
        base = np.arange(len(values) * 40, dtype=np.float32).reshape(len(values), 40)
        cpu = hash_token_counts(values, 5, 3, out=base.copy(), col0=4, target="cpu")
        gpu = hash_token_counts(values, 5, 3, out=base.copy(), col0=4, target="cuda")
        assert np.array_equal(cpu, gpu)
    print("hashing: identical")


def check_json_fields(rng: np.random.Generator) -> None:
    docs = [*random_documents(rng, 150), None, "", "[1]", '{"plan": "unterminated', "{}"]
    for key in ("plan", "amount"):
        cpu = json_field_spans(docs, key, target="cpu")[1:]
        gpu = json_field_spans(docs, key, target="cuda")[1:]
        assert all(np.array_equal(a, b) for a, b in zip(cpu, gpu, strict=True)), key
    print("json fields: identical")


def check_windows(rng: np.random.Generator) -> None:
    for n, n_entities, late in ((0, 1, 0.0), (1, 1, 0.0), (300, 6, 0.0), (300, 4, 0.3)):
        ts, ent, ty, val = random_events(rng, n, n_entities, late)
        states = {t: LAYOUT.new_state(n_entities) for t in ("cpu", "cuda")}
        outs = {}
        for target, state in states.items():
            parts = [
                window_update(ts[a:b], ent[a:b], ty[a:b], val[a:b], LAYOUT, state, target=target)
                for a, b in ((0, n // 3), (n // 3, n))
            ]
            outs[target] = np.vstack(parts)
        assert _same(outs["cpu"], outs["cuda"]), n
        assert _same(states["cpu"], states["cuda"]), n
    other = WindowLayout(1, (1000.0,), (), 10.0, 1e9)  # no half-lives at all
    one = np.zeros(3, dtype=np.int64)
    a = window_update(one + 5, one, one, np.ones(3), other, other.new_state(1), target="cpu")
    b = window_update(one + 5, one, one, np.ones(3), other, other.new_state(1), target="cuda")
    assert _same(a, b)
    print("windows: identical" if _EXACT else "windows: equal within 1e-12 (relative)")


def check_assembly(rng: np.random.Generator) -> None:
    x = rng.normal(size=(300, 5)).astype(np.float32)
    x[rng.random(x.shape) < 0.05] = np.nan
    x[0, 0] = np.inf
    cols = np.array([0, 2, 4], dtype=np.int64)
    shift, scale = rng.normal(size=3), rng.random(3) + 0.1
    cpu = normalise(x.copy(), cols, shift, scale, target="cpu")
    gpu = normalise(x.copy(), cols, shift, scale, target="cuda")
    assert np.array_equal(cpu, gpu, equal_nan=True)  # NaN stays in columns not normalised
    idx = rng.integers(-2, 9, size=300).astype(np.int64)
    cpu = one_hot(idx, 7, np.zeros((300, 9), np.float32), 1, target="cpu")
    gpu = one_hot(idx, 7, np.zeros((300, 9), np.float32), 1, target="cuda")
    assert np.array_equal(cpu, gpu)
    print("assembly: identical")


def main() -> None:
    from numba import cuda

    assert _EXACT or cuda.is_available(), "run with NUMBA_ENABLE_CUDASIM=1, or on a CUDA GPU"
    # The simulator runs the bodies as Python on NumPy scalars, where the wrapping uint64
    # multiply of FNV-1a warns; on the CPU and a real GPU it wraps silently, as intended.
    warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)
    assert resolve_target("auto") == "cuda"
    print("warm_up:", warm_up("cuda")[0])
    rng = np.random.default_rng(7)
    check_drift(rng)
    check_hashing(rng)
    check_json_fields(rng)
    check_windows(rng)
    check_assembly(rng)
    print("ALL OK")


if __name__ == "__main__":
    main()
