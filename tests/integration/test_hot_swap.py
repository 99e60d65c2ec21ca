"""Hot swap through the model-events topic, on the real broker with real workers.

`streamscore models promote` and `rollback` publish a model event; both running workers swap
between batches (no restart), every event still gets exactly one result per model, and a
worker started later, with a registry of its own that lacks the promoted version, installs it
from the (compacted) topic before its first batch.

The late worker starts alone on a fresh deployment rather than taking over from the others.
The takeover itself (two exactly-once workers stop, a new one with its own state takes over
while events are waiting) is the last test here. It lost a block of records per partition until
the worker stopped Faust from fetching inputs before they were seeked back to their committed
offsets (streams.pipeline.faust_fixes.resume_streams_after_seek).
"""

from __future__ import annotations

import shutil

import pytest

from models.registry import ModelRegistry
from tests.integration.learning import (
    VersionReader,
    model_events,
    wait_for_group,
    wait_for_log,
)
from tests.integration.pipeline import MODELS, Deployment, stop
from tests.support.cli import streamscore
from tests.support.workload import mixed_workload

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def keys_of(w) -> set[tuple[str, str]]:
    ids = list(w.event_ids)
    return {(eid, m) for eid in ids for m in MODELS}


def second_version(d: Deployment) -> tuple[str, str]:
    """(v1, v2): the churn champion and the same model registered again as a new version."""
    reg = ModelRegistry.from_settings(d.settings)
    v1 = reg.champion("churn").version
    v2 = reg.register(
        "churn",
        reg.load("churn", v1),
        baseline=reg.load("churn", v1, part="baseline"),
        pipeline=reg.load_pipeline("churn", v1),
        parent=v1,
        status="retired",
    ).version
    return v1, v2


def check_waves(reader: VersionReader, waves: list, expect_churn: list, logs: str) -> None:
    for k, w in enumerate(waves):
        keys = keys_of(w)
        missing = keys - reader.count.keys()
        assert not missing, f"wave {k}: {len(missing)} results missing\n{logs}"
        dupes = {key: n for key, n in reader.count.items() if key in keys and n > 1}
        assert not dupes, (
            f"wave {k}: {len(dupes)} duplicated results: "
            f"{[(key, reader.seen[key]) for key in list(dupes)[:3]]}"
        )
        churn = {reader.versions[key] for key in keys if key[1] == "churn"}
        upsell = {reader.versions[key] for key in keys if key[1] == "upsell"}
        assert churn == {expect_churn[k]}, (k, churn)
        assert upsell == {"v0001"}, (k, upsell)


def test_promote_and_rollback_swap_two_running_workers(kafka_bootstrap, trained, tmp_path):
    d = Deployment.create(kafka_bootstrap, trained, tmp_path)
    v1, v2 = second_version(d)
    env = d.env()
    a = d.start_worker("a", STREAMSCORE_TABLE_STORE="memory")
    b = d.start_worker("b", STREAMSCORE_TABLE_STORE="memory")
    reader = VersionReader(d)
    waves = [mixed_workload(2000, seed=40 + k, malformed_frac=0.0) for k in range(3)]
    steps = [(None, v1), (("promote", "churn", v2), v2), (("rollback", "churn"), v1)]
    try:
        for k, (args, _version) in enumerate(steps):
            if args is not None:
                done = streamscore("--state-dir", str(d.state_dir), "models", *args, env=env)
                assert done.returncode == 0, done.stdout + done.stderr
                wait_for_log(d, ["a", "b"], "hot swap", k, 120, workers=[a, b])
            d.produce(waves[k])
            reader.wait_for(keys_of(waves[k]), 300, workers=[a, b])
    finally:
        stop(a)
        stop(b)
        reader.close()
    check_waves(reader, waves, [v for _, v in steps], d.log_tail("a") + d.log_tail("b"))
    events = [e for e in model_events(d) if e.task == "churn"]
    assert [(e.event, e.champion) for e in events] == [("promoted", v2), ("rolled_back", v1)]
    assert all(e.artifact for e in events)
    reg = ModelRegistry.from_settings(d.settings)
    assert [x["event"] for x in reg.decisions("churn")] == ["promoted", "rolled_back"]


def test_a_worker_started_later_installs_the_champion_from_the_topic(
    kafka_bootstrap, trained, tmp_path
):
    d = Deployment.create(kafka_bootstrap, trained, tmp_path)
    v1, v2 = second_version(d)
    for args in (("promote", "churn", v2), ("rollback", "churn"), ("promote", "churn", v2)):
        done = streamscore("--state-dir", str(d.state_dir), "models", *args, env=d.env())
        assert done.returncode == 0, done.stdout + done.stderr
    # A worker with a registry of its own (another machine), in which v2 does not exist.
    own = d.state_dir.parent / "state-c"
    shutil.copytree(trained / "models", own / "models")
    assert not (own / "models" / "churn" / v2).exists()
    c = d.start_worker("c", STREAMSCORE_TABLE_STORE="memory")
    reader = VersionReader(d)
    wave = mixed_workload(2000, seed=50, malformed_frac=0.0)
    try:
        d.produce(wave)
        reader.wait_for(keys_of(wave), 300, workers=[c])
    finally:
        stop(c)
        reader.close()
    check_waves(reader, [wave], [v2], d.log_tail("c"))  # from its first batch on
    late = ModelRegistry(own / "models")
    assert late.champion("churn").version == v2  # installed from the event's files
    assert (
        late.get("churn", v2).artifacts
        == ModelRegistry.from_settings(d.settings).get("churn", v2).artifacts
    )


def test_a_new_worker_takes_over_from_two_stopped_workers_exactly_once(
    kafka_bootstrap, trained, tmp_path
):
    """Two exactly-once workers score and swap to v2; both stop (SIGTERM); a new worker with
    its own state directory (own Faust data, own registry without v2) takes over every
    partition and scores what comes next with v2. Every event of both waves: exactly one
    result per model (read_committed)."""
    d = Deployment.create(kafka_bootstrap, trained, tmp_path)
    v1, v2 = second_version(d)
    a = d.start_worker("a")
    b = d.start_worker("b")
    c = None
    reader = VersionReader(d)
    waves = [mixed_workload(2000, seed=60 + k, malformed_frac=0.0) for k in range(2)]
    try:
        wait_for_group(d, 2, 180, workers=[a, b])
        d.produce(waves[0])
        reader.wait_for(keys_of(waves[0]), 300, workers=[a, b])
        done = streamscore(
            "--state-dir", str(d.state_dir), "models", "promote", "churn", v2, env=d.env()
        )
        assert done.returncode == 0, done.stdout + done.stderr
        wait_for_log(d, ["a", "b"], "hot swap", 1, 120, workers=[a, b])
        stop(a)
        stop(b)
        assert (a.returncode, b.returncode) == (0, 0), d.log_tail("a") + d.log_tail("b")
        own = d.state_dir.parent / "state-c"
        shutil.copytree(trained / "models", own / "models")
        c = d.start_worker("c")
        d.produce(waves[1])
        reader.wait_for(keys_of(waves[1]), 300, workers=[c])
        reader.wait_for(keys_of(waves[0]), 10, workers=[c])  # and nothing more of wave 0
    finally:
        for w in (a, b, c):
            if w is not None:
                stop(w)
        reader.close()
    logs = d.log_tail("a", 4000) + d.log_tail("b", 4000) + d.log_tail("c", 6000)
    for k, w in enumerate(waves):
        missing = keys_of(w) - reader.count.keys()
        assert not missing, f"wave {k}: {len(missing)} results missing; {where(d, missing)}\n{logs}"
    check_waves(reader, waves, [v1, v2], logs)


def where(d: Deployment, missing: set) -> str:
    """Evidence for missing results: the input partitions and offsets of the missing JSON
    activity events, and the worker group's committed offsets and highwaters there."""
    import collections
    import json

    from confluent_kafka import TopicPartition

    from streams.kafka.clients import make_consumer, read_topic
    from streams.topics import topic_name

    ids = {eid for eid, _ in missing}
    activity = topic_name(d.settings, "activity")
    at: dict[str, tuple[int, int]] = {}
    for m in read_topic(d.bootstrap, activity, idle_s=3):
        v = m.value()
        if v and v[:1] == b"{":
            try:
                eid = json.loads(v).get("event_id")
            except ValueError:
                continue
            if eid in ids:
                at[eid] = (m.partition(), m.offset())
    per = collections.defaultdict(list)
    for p, off in at.values():
        per[p].append(off)
    c = make_consumer(d.bootstrap, group=f"{d.settings.topic_prefix}worker.activity-logs.all")
    try:
        tps = [TopicPartition(activity, p) for p in range(6)]
        committed = {tp.partition: tp.offset for tp in c.committed(tps, timeout=30)}
        ends = {tp.partition: c.get_watermark_offsets(tp, timeout=10)[1] for tp in tps}
    finally:
        c.close()
    rows = [
        f"p{p}: {len(v)} missing, offsets {min(v)}..{max(v)}, committed {committed[p]}, "
        f"highwater {ends[p]}"
        for p, v in sorted(per.items())
    ]
    return (
        f"{len(ids)} events ({len(at)} JSON activity located): "
        + "; ".join(rows)
        + f"; all committed {committed}, highwaters {ends}"
    )
