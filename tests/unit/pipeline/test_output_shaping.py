"""The output settings of BatchProcessor: per-event ScoreResults on/off, snapshot modes.

Each mode is checked for what it produces, and ``all`` for what retraining needs: the
point-in-time join over the snapshots of a stream scored in batches finds, for every decision,
exactly the features the offline pipeline computes for the entity's last event before it.
"""

from __future__ import annotations

import io
import json
import random

import numpy as np
import pyarrow as pa
import pytest

from schemas import decode_score_batch
from streams.errors import ConfigError
from streams.etl import parse_batch
from streams.etl.types import FileOrigin
from streams.features import FeaturePipeline, default_spec
from streams.learning.join import Outcomes, Snapshots, point_in_time_join
from streams.pipeline import BatchProcessor, SourceRecords
from streams.pipeline.snapshots import SnapshotPolicy
from streams.scoring import ModelSet
from streams.settings import load_settings
from tests.unit.pipeline.test_processor import Constant

T0 = 1_780_000_000_000
USERS = 40


def stream(n: int, seed: int = 5) -> list[bytes]:
    """Activity JSON of a few users over a few days, in time order."""
    rng = random.Random(seed)
    ts, out = T0, []
    for i in range(n):
        ts += rng.randrange(1, 3_600_000)
        event = {
            "event_id": f"s{seed}-{i}",
            "user_id": f"u{rng.randrange(USERS):03d}",
            "ts": ts,
            "type": rng.choice(["login", "view", "purchase", "session_end"]),
        }
        if event["type"] == "purchase":
            event["properties"] = {"amount": round(rng.uniform(1, 90), 2), "plan": "pro"}
        out.append(json.dumps(event).encode())
    return out


@pytest.fixture(scope="module")
def values() -> list[bytes]:
    return stream(900)


@pytest.fixture(scope="module")
def fitted(values):
    events = parse_batch(values, "activity", FileOrigin("fit", 1)).events
    return FeaturePipeline(default_spec("serving")).fit(pa.Table.from_batches([events]))


@pytest.fixture(scope="module")
def models(fitted) -> ModelSet:
    return ModelSet(fitted, [Constant("churn", 0.25), Constant("upsell", 0.75)])


def batches(values: list[bytes], size: int) -> list[SourceRecords]:
    """The stream cut into batches, records spread over three partitions by user."""
    out = []
    for start in range(0, len(values), size):
        chunk = values[start : start + size]
        part = [int(json.loads(v)["user_id"][1:]) % 3 for v in chunk]
        order = sorted(range(len(chunk)), key=lambda i: part[i])
        out.append(
            SourceRecords(
                "activity",
                np.array([part[i] for i in order], np.int32),
                np.arange(start, start + len(chunk), dtype=np.int64)[order],
                [None] * len(chunk),
                [chunk[i] for i in order],
                np.zeros(len(chunk), np.int64),
            )
        )
    return out


def run(proc: BatchProcessor, records: list[SourceRecords]) -> list:
    """Process the batches in order with one state store; every batch's output."""
    state: dict[str, bytes] = {}
    outs = []
    for r in records:
        out = proc.process(r, state)
        state.update(out.state_rows)
        outs.append(out)
    return outs


def snapshot_table(outs: list) -> pa.Table:
    tables = [
        pa.ipc.open_stream(io.BytesIO(f)).read_all()
        for out in outs
        for part in out.partitions.values()
        for f in part.features
    ]
    return pa.concat_tables(tables) if tables else pa.table({})


def test_score_results_off_keeps_the_batches_and_everything_else(values, models):
    on = run(BatchProcessor(models, clock_ms=lambda: 9), batches(values, 200))
    off = run(BatchProcessor(models, clock_ms=lambda: 9, score_results=False), batches(values, 200))
    assert sum(len(o.scores) for o in on) == 2 * len(values)
    assert sum(len(o.scores) for o in off) == 0
    for a, b in zip(on, off, strict=True):
        assert a.events == b.events and a.scored_records == b.scored_records
        assert a.state_rows == b.state_rows
        for p in a.partitions:
            assert a.partitions[p].score_batches == b.partitions[p].score_batches
            assert a.partitions[p].features == b.partitions[p].features
    ids = [
        (e, cols.model_name)
        for o in off
        for part in o.partitions.values()
        for cols in map(decode_score_batch, part.score_batches)
        for e in cols.event_id
    ]
    assert len(ids) == len(set(ids)) == 2 * len(values)  # every event, once per model


def test_snapshots_none_writes_no_snapshot_and_changes_nothing_else(values, models):
    every = run(BatchProcessor(models, clock_ms=lambda: 9), batches(values, 300))
    none = run(BatchProcessor(models, clock_ms=lambda: 9, snapshots="none"), batches(values, 300))
    assert all(not p.features for o in none for p in o.partitions.values())
    assert [o.scores for o in none] == [o.scores for o in every]
    assert [o.state_rows for o in none] == [o.state_rows for o in every]


def test_sampled_snapshots_are_a_deterministic_subset_of_the_full_rows(values, models):
    full = snapshot_table(run(BatchProcessor(models), batches(values, 250))).to_pydict()
    by_id = {e: i for i, e in enumerate(full["event_id"])}
    picked = []
    for size in (250, 64):  # another batch split samples the same events
        table = snapshot_table(
            run(BatchProcessor(models, snapshots="sample:0.3"), batches(values, size))
        ).to_pydict()
        picked.append(sorted(table["event_id"]))
        for k, event in enumerate(table["event_id"]):  # the same row as in `all`
            assert table["features"][k] == full["features"][by_id[event]]
            assert table["ts_ms"][k] == full["ts_ms"][by_id[event]]
    assert picked[0] == picked[1]
    assert 0.2 * len(values) < len(picked[0]) < 0.4 * len(values)
    assert set(picked[0]) < set(full["event_id"])


def test_all_snapshots_keep_the_point_in_time_join_exact(values, fitted, models):
    table = snapshot_table(run(BatchProcessor(models), batches(values, 128)))
    names = tuple(json.loads(table.schema.metadata[b"feature_names"]))
    snaps = Snapshots(
        entity=np.asarray(table["entity"].to_pylist(), dtype=object),
        ts_ms=table["ts_ms"].to_numpy(),
        X=table["features"].combine_chunks().flatten().to_numpy().reshape(len(table), -1),
        names=names,
        fingerprint=fitted.fingerprint,
    )
    # Offline: the whole stream featurised in one go, as models/dataset.py builds training sets.
    events = parse_batch(values, "activity", FileOrigin("all", 1)).events
    offline = fitted.transform(events, fitted.new_state())
    entity = np.asarray(offline.entity.to_pylist(), dtype=object)
    rng = np.random.default_rng(3)
    who = rng.choice(np.unique(entity), 60)
    when = rng.integers(int(offline.ts_ms.min()), int(offline.ts_ms.max()) + 1, 60)
    outcomes = Outcomes(who.astype(object), when, when, rng.integers(0, 2, 60).astype(np.int8))
    joined = point_in_time_join(snaps, outcomes, window_ms=10**12).as_of
    assert len(joined.y) > 40
    for k in range(len(joined.y)):
        e, t = joined.entity[k], joined.decision_ts_ms[k]
        before = np.flatnonzero((entity == e) & (offline.ts_ms < t))
        np.testing.assert_array_equal(joined.X[k], offline.X[before[-1]])


def test_sampled_join_uses_the_last_sampled_event(values, fitted, models):
    table = snapshot_table(
        run(BatchProcessor(models, snapshots="sample:0.5"), batches(values, 128))
    )
    sampled_ids = set(table["event_id"].to_pylist())
    snaps = Snapshots(
        entity=np.asarray(table["entity"].to_pylist(), dtype=object),
        ts_ms=table["ts_ms"].to_numpy(),
        X=table["features"].combine_chunks().flatten().to_numpy().reshape(len(table), -1),
        names=tuple(json.loads(table.schema.metadata[b"feature_names"])),
        fingerprint=fitted.fingerprint,
    )
    events = parse_batch(values, "activity", FileOrigin("all", 1)).events
    offline = fitted.transform(events, fitted.new_state())
    entity = np.asarray(offline.entity.to_pylist(), dtype=object)
    ids = np.asarray(offline.event_id.to_pylist(), dtype=object)
    sampled = np.array([i in sampled_ids for i in ids])
    e = entity[-1]
    t = int(offline.ts_ms[-1]) + 1  # a decision after the stream
    joined = point_in_time_join(
        snaps, Outcomes(np.array([e], object), np.array([t]), np.array([t]), np.ones(1, np.int8))
    ).as_of
    last_sampled = np.flatnonzero((entity == e) & sampled)[-1]
    np.testing.assert_array_equal(joined.X[0], offline.X[last_sampled])


def test_snapshot_policy_parses_the_documented_modes():
    assert SnapshotPolicy.parse("all") == SnapshotPolicy("all")
    assert SnapshotPolicy.parse("none") == SnapshotPolicy("none")
    assert SnapshotPolicy.parse("sample:0.25") == SnapshotPolicy("sample", 0.25)
    assert SnapshotPolicy.parse("sample:1") == SnapshotPolicy("all")
    for bad in ("sample:0", "sample:1.5", "sample:", "some", ""):
        with pytest.raises(ConfigError, match="expected all, none or sample"):
            SnapshotPolicy.parse(bad)
    with pytest.raises(ConfigError):
        BatchProcessor(None, snapshots="half")  # type: ignore[arg-type]


def test_output_settings_from_the_environment():
    default = load_settings(env={})
    assert default.score_results is True and default.snapshots == "all"
    s = load_settings(
        env={"STREAMSCORE_SCORE_RESULTS": "off", "STREAMSCORE_SNAPSHOTS": "sample:0.1"}
    )
    assert s.score_results is False and s.snapshots == "sample:0.1"
    assert SnapshotPolicy.parse(s.snapshots) == SnapshotPolicy("sample", 0.1)
    with pytest.raises(ConfigError, match="STREAMSCORE_SNAPSHOTS.*expected all, none or sample"):
        load_settings(env={"STREAMSCORE_SNAPSHOTS": "sometimes"})
    with pytest.raises(ConfigError, match="STREAMSCORE_SCORE_RESULTS"):
        load_settings(env={"STREAMSCORE_SCORE_RESULTS": "maybe"})
