"""Window kernel against a history-based reference; batching, late events, edge input."""

from __future__ import annotations

import numpy as np
import pytest

from kernels import KernelInputError, WindowLayout, window_update
from tests.unit.kernels import reference as ref

HOUR = 3_600_000.0
LAYOUT = WindowLayout(3, (HOUR, 24 * HOUR), (6 * HOUR,), 1_800_000.0, 48 * HOUR)


def run_reference(ts, ent, ty, val, history=None):
    return ref.window_features(
        ts,
        ent,
        ty,
        val,
        LAYOUT.n_types,
        LAYOUT.horizons_ms,
        LAYOUT.halflives_ms,
        LAYOUT.session_gap_ms,
        LAYOUT.recency_cap_ms,
        history,
    )


def random_events(rng: np.random.Generator, n: int, n_entities: int, late: float = 0.0):
    ts = np.cumsum(rng.exponential(20 * 60_000.0, size=n)).astype(np.int64) + 1_700_000_000_000
    if late:  # some events arrive up to 3 h late
        lag = (rng.random(n) < late) * rng.integers(0, int(3 * HOUR), size=n)
        ts = ts - lag
    ent = rng.integers(0, n_entities, size=n).astype(np.int64)
    ty = rng.integers(0, LAYOUT.n_types, size=n).astype(np.int64)
    val = rng.normal(10, 5, size=n)
    val[rng.random(n) < 0.1] = np.nan
    return ts, ent, ty, val


@pytest.mark.parametrize("late", [0.0, 0.3])
def test_random_batch_matches_history_reference(late: float) -> None:
    ts, ent, ty, val = random_events(np.random.default_rng(1), 400, 7, late)
    state = LAYOUT.new_state(7)
    got = window_update(ts, ent, ty, val, LAYOUT, state)
    want, _ = run_reference(ts, ent, ty, val)
    np.testing.assert_allclose(got, want.astype(np.float32), rtol=2e-6, atol=1e-6)
    assert not np.isnan(got).any()


def test_split_batches_are_bit_identical_to_one_batch_and_match_reference() -> None:
    ts, ent, ty, val = random_events(np.random.default_rng(2), 300, 5, late=0.2)
    whole_state = LAYOUT.new_state(5)
    whole = window_update(ts, ent, ty, val, LAYOUT, whole_state)
    parts_state = LAYOUT.new_state(5)
    cuts = [0, 1, 2, 50, 51, 200, 300]
    parts = [
        window_update(ts[a:b], ent[a:b], ty[a:b], val[a:b], LAYOUT, parts_state)
        for a, b in zip(cuts, cuts[1:], strict=False)
    ]
    assert np.array_equal(np.vstack(parts), whole)
    assert np.array_equal(parts_state, whole_state)


def test_single_event_features_are_the_obvious_values() -> None:
    state = LAYOUT.new_state(1)
    t0 = int(1_700_000_000_000 // (24 * HOUR) * (24 * HOUR))  # at a bucket start
    out = window_update(
        np.array([t0]), np.array([0]), np.array([1]), np.array([9.5]), LAYOUT, state
    )[0]
    names = LAYOUT.feature_names(("a", "b", "c"), ("1h", "1d"), ("6h",))
    got = dict(zip(names, out.tolist(), strict=True))
    assert got["win.b.count_1h"] == 1 and got["win.b.sum_1d"] == 9.5
    assert got["win.a.count_1h"] == 0 and got["win.b.decay_6h"] == 1
    assert got["win.b.recency_h"] == 0 and got["win.a.recency_h"] == 48
    assert got["win.n_events"] == 1 and got["win.sessions"] == 1
    assert got["win.since_prev_h"] == 48 and got["win.tenure_h"] == 0


def test_empty_batch_changes_nothing() -> None:
    state = LAYOUT.new_state(2)
    e = np.array([], dtype=np.int64)
    out = window_update(e, e, e, np.array([]), LAYOUT, state)
    assert out.shape == (0, LAYOUT.n_features) and not state.any()


def test_one_entity_many_events_at_the_same_time_and_huge_times() -> None:
    n = 50
    ts = np.full(n, 2**52, dtype=np.int64)  # far future, still exact in float64
    ent = np.zeros(n, dtype=np.int64)
    ty = np.arange(n, dtype=np.int64) % 3
    val = np.ones(n)
    got = window_update(ts, ent, ty, val, LAYOUT, LAYOUT.new_state(1))
    want, _ = run_reference(ts, ent, ty, val)
    np.testing.assert_allclose(got, want.astype(np.float32), rtol=1e-6)


def test_zero_row_means_unseen_entity_and_big_slot_numbers_work() -> None:
    state = LAYOUT.new_state(100_000)
    ts, _, ty, val = random_events(np.random.default_rng(3), 20, 1)
    slot = np.full(20, 99_999, dtype=np.int64)
    window_update(ts, slot, ty, val, LAYOUT, state)
    assert state[99_999].any() and not state[:99_999].any()


def test_bad_inputs_raise_clear_errors() -> None:
    state = LAYOUT.new_state(2)
    one = np.array([0], dtype=np.int64)
    with pytest.raises(KernelInputError, match="slot: expected 0..1"):
        window_update(one, np.array([2]), one, np.array([1.0]), LAYOUT, state)
    with pytest.raises(KernelInputError, match="type_id: expected 0..2"):
        window_update(one, one, np.array([3]), np.array([1.0]), LAYOUT, state)
    with pytest.raises(KernelInputError, match="one length"):
        window_update(one, one, one, np.array([1.0, 2.0]), LAYOUT, state)
    with pytest.raises(KernelInputError, match=r">= 41"):
        window_update(one, one, one, np.array([1.0]), LAYOUT, np.zeros((2, 3)))
    with pytest.raises(KernelInputError, match="dtype int64"):
        window_update(np.array([0.5]), one, one, np.array([1.0]), LAYOUT, state)
    with pytest.raises(KernelInputError, match="positive horizons"):
        WindowLayout(1, (), (), 1.0, 1.0)
