"""Simulator: determinism, schemas, causal sanity, drift, payloads."""

from __future__ import annotations

import dataclasses

import numpy as np
import orjson
import pyarrow.compute as pc
import pytest

from models.evaluation import auc
from models.simulate import (
    LABEL_SCHEMA,
    SimConfig,
    iter_payload_batches,
    read_simulation,
    simulate,
    write_simulation,
)
from schemas.events import ACTIVITY_TYPES, EVENT_SCHEMA
from streams.errors import ConfigError

CFG = SimConfig(
    n_users=300, days=28, decision_min_day=14, n_hosts=2, seed=9, log_lines_per_host_day=20
)


@pytest.fixture(scope="module")
def sim():
    return simulate(CFG)


def test_same_seed_same_output_other_seed_differs(sim):
    again = simulate(CFG)
    assert again.events.equals(sim.events) and again.labels.equals(sim.labels)
    other = simulate(dataclasses.replace(CFG, seed=10))
    assert not other.events.equals(sim.events)


def test_schemas_and_time_order(sim):
    assert sim.events.schema.equals(EVENT_SCHEMA)
    assert sim.labels.schema.equals(LABEL_SCHEMA)
    ts = sim.events["ts_ms"].to_numpy()
    assert (np.diff(ts) >= 0).all()
    assert ts.min() >= CFG.start_ms and ts.max() < CFG.end_ms
    types = set(pc.unique(sim.events["event_type"]).to_pylist())
    assert types <= set(ACTIVITY_TYPES) | {"log"}
    assert {"login", "payment_failed", "support_ticket", "offer_shown", "offer_accepted"} <= types
    assert len(set(sim.events["event_id"].to_pylist())) == sim.events.num_rows
    sources = set(pc.unique(sim.events["source"]).to_pylist())
    assert sources == {"activity", "syslog3164", "dpkg"}


def test_labels_come_after_their_decision_and_users_leave(sim):
    lab = sim.labels
    assert (lab["label_ts_ms"].to_numpy() > lab["decision_ts_ms"].to_numpy()).all()
    churn = sim.task_labels("churn")
    left = churn.filter(pc.equal(churn["label"], 1))
    leave = dict(zip(left["entity"].to_pylist(), left["label_ts_ms"].to_pylist(), strict=True))
    ev = sim.events.filter(pc.equal(sim.events["source"], "activity"))
    last = {}
    for e, t in zip(ev["entity"].to_pylist(), ev["ts_ms"].to_pylist(), strict=True):
        last[e] = t
    assert all(last.get(u, 0) < t for u, t in leave.items())  # no events after leaving


def test_true_probabilities_are_informative_and_calibrated(sim):
    for task in ("churn", "upsell"):
        lab = sim.task_labels(task)
        y, p = lab["label"].to_numpy(), lab["true_p"].to_numpy()
        assert ((p > 0) & (p < 1)).all()
        assert auc(y, p) > 0.65
        assert abs(y.mean() - p.mean()) < 0.06


def test_drift_changes_behaviour_after_the_drift_day():
    base = dataclasses.replace(CFG, n_users=600, n_hosts=0)
    plain = simulate(base)
    drifted = simulate(dataclasses.replace(base, drift_day=14))

    def fails_after(r):
        ev = r.events
        late = pc.greater_equal(ev["ts_ms"], CFG.start_ms + 14 * 86_400_000)
        return pc.sum(pc.and_(late, pc.equal(ev["event_type"], "payment_failed"))).as_py()

    assert fails_after(drifted) > 1.4 * fails_after(plain)
    flags = drifted.labels["drifted"].to_numpy()
    assert flags.any() and not plain.labels["drifted"].to_numpy().any()


def test_bad_config_is_a_config_error():
    with pytest.raises(ConfigError, match="decision_min_day"):
        SimConfig(days=10, decision_min_day=8, horizon_days=7)


def test_parquet_round_trip(sim, tmp_path):
    paths = write_simulation(sim, tmp_path)
    events, labels = read_simulation(tmp_path)
    assert events.equals(sim.events) and labels.equals(sim.labels)
    assert paths["raw_logs"].read_bytes().count(b"\n") == len(sim.raw_logs)
    assert not list(tmp_path.glob("*.tmp"))


def test_payload_batches_cover_everything_in_time_order(sim):
    counts = {"activity": 0, "raw_logs": 0, "outcomes": 0}
    last = dict.fromkeys(counts, -1)
    for batch in iter_payload_batches(sim, batch_size=700):
        assert len(batch.payloads) == len(batch.keys) == len(batch.ts_ms)
        assert (np.diff(batch.ts_ms) >= 0).all() and batch.ts_ms[0] >= last[batch.kind]
        last[batch.kind] = int(batch.ts_ms[-1])  # each kind's stream never goes back in time
        counts[batch.kind] += len(batch.payloads)
        if batch.kind == "activity":
            doc = orjson.loads(batch.payloads[0])
            assert set(doc) >= {"event_id", "user_id", "ts", "type"}
            assert isinstance(doc["ts"], int) and doc["type"] in ACTIVITY_TYPES
            assert isinstance(doc.get("properties", {}), dict)
        elif batch.kind == "raw_logs":
            assert batch.payloads[0][:1] == b"<" or batch.payloads[0][:2] == b"20"
    n_act = pc.sum(pc.equal(sim.events["source"], "activity")).as_py()
    assert counts == {
        "activity": n_act,
        "raw_logs": len(sim.raw_logs),
        "outcomes": sim.labels.num_rows,
    }
