"""Models score the entities they were made for (issue 14, item 11).

An event's entity is a user (``user_id`` set) or a host (machine logs). A served model declares
the kinds it scores; the processor and the backfill call it only on the rows of those kinds,
chosen with one mask per batch. Events of other kinds still go through parse, features, window
state and snapshots, and are counted, as "not scored" per model, never as lost.
"""

from __future__ import annotations

import io
import itertools
import json

import numpy as np
import pyarrow as pa
import pytest

from schemas import decode_score_batch, decode_score_result
from schemas.events import ENTITY_KINDS, EntityKind, entity_kind_codes, parse_entity_kinds
from streams.etl import parse_batch
from streams.etl.types import FileOrigin
from streams.pipeline import BatchProcessor, SourceRecords
from streams.pipeline.backfill import score_batches
from streams.scoring import ModelSet, kind_rows
from tests.support.workload import mixed_workload
from tests.unit.pipeline.test_processor import Constant, fit_serving


@pytest.fixture(scope="module")
def work():
    return mixed_workload(600, seed=4, malformed_frac=0.0)


@pytest.fixture(scope="module")
def fitted(work):
    return fit_serving(work)


def mixed(work) -> SourceRecords:
    """The workload's activity JSON then its log lines, over three partitions (grouped)."""
    values = [v for _, v in work.json_activity] + [v for _, v in work.log_lines]
    keys = [k for k, _ in work.json_activity] + [k for k, _ in work.log_lines]
    n = len(values)
    parts = np.sort(np.arange(n) % 3).astype(np.int32)
    return SourceRecords(
        "in", parts, np.arange(n, dtype=np.int64), keys, values, np.full(n, 7, np.int64)
    )


def user_event_ids(work) -> list[str]:
    """The ids of the workload's activity JSON events (the Arrow tables are not used here)."""
    return [json.loads(v)["event_id"] for _, v in work.json_activity]


def log_event_ids(work) -> list[str]:
    values = [v for _, v in work.log_lines]
    hosts = [k.decode() for k, _ in work.log_lines]
    events = parse_batch(values, "auto", FileOrigin("logs", 1), hosts=hosts).events
    return events.column("event_id").to_pylist()


def test_entity_kind_is_user_where_a_user_id_is_set_and_host_otherwise():
    payloads = [
        b'{"event_id": "e1", "user_id": "u1", "ts": 1780000000000, "type": "login"}',
        b"<13>May 28 10:00:00 host07 cron[42]: (root) CMD (run)",
        b'10.0.0.9 - alice [28/May/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 12 "-" "curl"',
        b'10.0.0.9 - - [28/May/2026:10:00:01 +0000] "GET / HTTP/1.1" 200 12 "-" "curl"',
        b"2026-05-28 11:00:00 status installed cowsay:all 3.03",
    ]
    parsed = parse_batch(payloads, "auto", FileOrigin("mix", 1), hosts=["h"] * len(payloads))
    assert not parsed.rejected
    codes = entity_kind_codes(parsed.events)
    kinds = [ENTITY_KINDS[c] for c in codes.tolist()]
    assert kinds == ["user", "host", "user", "host", "host"]
    assert parsed.events.column("entity").to_pylist() == ["u1", "host07", "alice", "10.0.0.9", "h"]
    assert codes.dtype == np.uint8
    table = pa.Table.from_batches([parsed.events.slice(0, 2), parsed.events.slice(2)])
    assert entity_kind_codes(table).tolist() == codes.tolist()  # chunked columns too


def test_entity_kind_names_are_checked():
    assert parse_entity_kinds("host, user") == (EntityKind.USER, EntityKind.HOST)
    assert parse_entity_kinds(["user"]) == (EntityKind.USER,)
    for bad in ([], "", ["users"], "user,machine", None):
        with pytest.raises(ValueError, match="expected"):
            parse_entity_kinds(bad)


@pytest.mark.parametrize("seed", range(5))
def test_kind_rows_is_the_per_row_reference(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 300))
    codes = rng.integers(0, len(ENTITY_KINDS), n).astype(np.uint8)
    if seed == 0:
        codes[:] = 0  # every row a user
    names = [k.value for k in ENTITY_KINDS]
    for r in range(1, len(names) + 1):
        for kinds in itertools.combinations(names, r):
            expected = [i for i, c in enumerate(codes.tolist()) if names[c] in kinds]
            rows = kind_rows(codes, kinds)
            if len(expected) == n:
                assert rows is None  # every row: the batch is used as it is
            else:
                assert rows.dtype == np.int64 and rows.tolist() == expected


def test_each_model_scores_only_the_events_of_its_kinds(work, fitted):
    recs = mixed(work)
    churn = Constant("churn", 0.25)
    hosts = Constant("hostwatch", 0.5, entity_kinds=("host",))
    every = Constant("every", 0.75, entity_kinds=("user", "host"))
    out = BatchProcessor(ModelSet(fitted, [churn, hosts, every])).process(recs, {})
    users, logs = user_event_ids(work), log_event_ids(work)
    n_users, n_hosts = len(users), len(logs)
    assert out.events == out.scored_records == len(recs) == n_users + n_hosts
    assert not out.dead_letters
    # One call per model and batch, on the rows of its kinds only.
    assert (churn.calls, hosts.calls, every.calls) == ([n_users], [n_hosts], [n_users + n_hosts])
    got = {}
    for partition, part in out.partitions.items():
        for key, value in part.scores:
            r = decode_score_result(value)
            assert key == r["entity"].encode()
            assert int(recs.partitions[recs.offsets[(users + logs).index(r["event_id"])]]) == (
                partition
            )  # on its record's partition
            got[(r["event_id"], r["model_name"])] = r["score"]
    expected = {(e, "churn") for e in users} | {(e, "hostwatch") for e in logs}
    expected |= {(e, "every") for e in users + logs}
    assert set(got) == expected and len(out.scores) == len(expected)
    assert out.stats.not_scored == {("churn", "host"): n_hosts, ("hostwatch", "user"): n_users}
    assert {k: len(v) for k, v in out.stats.scores.items()} == {
        "churn": n_users,
        "hostwatch": n_hosts,
        "every": n_users + n_hosts,
    }
    # The ScoreBatch columns carry the same rows.
    batch_ids: dict[str, list[str]] = {"churn": [], "hostwatch": [], "every": []}
    for part in out.partitions.values():
        for value in part.score_batches:
            b = decode_score_batch(value)
            batch_ids[b.model_name] += list(b.event_id)
    assert sorted(batch_ids["churn"]) == sorted(users)
    assert sorted(batch_ids["hostwatch"]) == sorted(logs)
    assert sorted(batch_ids["every"]) == sorted(users + logs)
    # Snapshots keep every event; a model's score is null where it does not score the kind.
    snap = pa.concat_tables(
        pa.ipc.open_stream(io.BytesIO(f)).read_all()
        for part in out.partitions.values()
        for f in part.features
    )
    assert sorted(snap["event_id"].to_pylist()) == sorted(users + logs)
    is_user = np.isin(snap["event_id"].to_numpy(zero_copy_only=False), users)
    assert (snap["score.churn"].is_null().to_numpy(zero_copy_only=False) == ~is_user).all()
    assert (snap["score.hostwatch"].is_null().to_numpy(zero_copy_only=False) == is_user).all()
    assert snap["score.every"].null_count == 0
    # Hosts keep their window state like users.
    state = out.state_rows
    assert {k.decode() for k, _ in work.log_lines} <= set(state)


def test_a_batch_of_host_events_gets_no_user_scores_but_is_counted_and_kept(work, fitted):
    values = [v for _, v in work.log_lines]
    n = len(values)
    recs = SourceRecords(
        "raw-logs",
        np.zeros(n, np.int32),
        np.arange(n, dtype=np.int64),
        [k for k, _ in work.log_lines],
        values,
        np.zeros(n, np.int64),
    )
    churn, upsell = Constant("churn", 0.25), Constant("upsell", 0.5)
    out = BatchProcessor(ModelSet(fitted, [churn, upsell]), hosts_from_keys=True).process(recs, {})
    assert out.events == out.scored_records == n and not out.dead_letters
    assert not out.scores and not any(p.score_batches for p in out.partitions.values())
    assert churn.calls == upsell.calls == [0]  # one call, on no rows: nothing to score
    assert out.stats.not_scored == {("churn", "host"): n, ("upsell", "host"): n}
    assert {len(v) for v in out.stats.scores.values()} == {0}
    snapshots = [f for p in out.partitions.values() for f in p.features]
    snap = pa.concat_tables(pa.ipc.open_stream(io.BytesIO(f)).read_all() for f in snapshots)
    assert snap.num_rows == n and snap["score.churn"].null_count == n
    assert {k.decode() for k, _ in work.log_lines} <= set(out.state_rows)


def test_backfill_scores_the_same_rows_as_the_stream(work, fitted):
    recs = mixed(work)
    parsed = parse_batch(
        recs.values, "auto", FileOrigin("f", 1), hosts=[k.decode() for k in recs.keys]
    )
    churn, hosts = Constant("churn", 0.25), Constant("hostwatch", 0.5, entity_kinds=("host",))
    tables = list(score_batches(ModelSet(fitted, [churn, hosts]), [parsed.events], 1))
    rows = {
        (e, m)
        for t in tables
        for e, m in zip(t["event_id"].to_pylist(), t["model_name"].to_pylist(), strict=True)
    }
    online = BatchProcessor(ModelSet(fitted, [Constant("churn", 0.25), hosts])).process(recs, {})
    stream = {(r["event_id"], r["model_name"]) for r in map(decode_score_result, (
        v for _, v in online.scores))}  # fmt: skip
    assert rows == stream
    assert {m for _, m in rows} == {"churn", "hostwatch"}
    assert {e for e, m in rows if m == "churn"} == set(user_event_ids(work))
