"""The scoring pipeline end to end, on the real broker, with real workers (`streamscore worker`).

What must hold, whatever happens to the workers: every valid event gets exactly one ScoreResult
per model that scores its entity kind on the scores topic (read_committed; churn and upsell
score users, so a log line, whose entity is a host, gets none), every malformed record exactly
one dead letter, and the online scores equal the offline scores of the same events.
"""

from __future__ import annotations

import json
import signal
import time

import numpy as np
import pytest

from schemas import decode_score_result
from streams.topics import topic_name
from tests.integration.pipeline import (
    MODELS,
    Deployment,
    ResultReader,
    assert_exactly_once,
    last_data_offsets,
    offline_scores,
    stop,
)
from tests.support.flatc import flatc_json, require_flatc
from tests.support.workload import mixed_workload

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture
def deployment(kafka_bootstrap, trained, tmp_path):
    return Deployment.create(kafka_bootstrap, trained, tmp_path)


def test_100k_mixed_events_exactly_one_result_each(deployment, tmp_path):
    w = mixed_workload(100_000, seed=21)
    expected, offline_dead = offline_scores(deployment, w)
    assert len(expected) == w.n_user_events * len(MODELS)  # the log lines' hosts: no score
    assert len(expected.not_scored) == (w.n_valid_events - w.n_user_events) * len(MODELS)
    assert offline_dead == len(w.malformed) == 1000

    worker = deployment.start_worker("w1")
    reader = ResultReader(deployment)
    try:
        deployment.produce(w)
        reader.wait_for(len(expected), len(w.malformed), timeout=600, workers=[worker])
    finally:
        stop(worker)
        reader.close()
    assert_exactly_once(reader, expected, len(w.malformed), deployment.log_tail("w1"))

    # Online scores equal offline scores of the same events.
    diffs = np.array([abs(reader.score_values[k] - v) for k, v in expected.items()])
    assert diffs.max() <= 1e-6, f"max |online - offline| = {diffs.max():.3g}"

    # The stock flatc decodes our ScoreResults to the same fields as our decoder.
    flatc = require_flatc()
    for i, value in enumerate(reader.samples[:10]):
        ours = decode_score_result(value)
        theirs = flatc_json(flatc, "scores.fbs", value, tmp_path / f"flatc{i}")
        for field in (
            "event_id",
            "entity",
            "model_name",
            "model_version",
            "served_by",
            "decision",
            "fallback",
            "event_time_ms",
            "scored_time_ms",
        ):
            assert theirs[field] == ours[field], (field, theirs, ours)
        assert abs(theirs["score"] - ours["score"]) < 1e-6
        assert json.dumps(theirs)  # plain JSON


def test_sigkill_twice_still_exactly_once(deployment):
    w = mixed_workload(30_000, seed=22)
    expected, _ = offline_scores(deployment, w)
    reader = ResultReader(deployment)
    worker = deployment.start_worker("k1")
    try:
        deployment.produce(w)
        for name, share in (("k2", 0.2), ("k3", 0.55)):
            reader.wait_for(int(len(expected) * share), 0, timeout=300, workers=[worker], settle=0)
            worker.send_signal(signal.SIGKILL)
            worker.wait(30)
            worker = deployment.start_worker(name)
        reader.wait_for(len(expected), len(w.malformed), timeout=600, workers=[worker])
    finally:
        stop(worker)
        reader.close()
    assert_exactly_once(reader, expected, len(w.malformed), deployment.log_tail("k3"))

    # Results and window state were written in transactions (each partition ends with a
    # transaction marker), not merely delivered once by luck of where the kills landed.
    settings = deployment.settings
    changelog = f"{settings.topic_prefix}worker.activity-logs.all-entity-windows-changelog"
    for key in ("scores", "score-batches", "features", "dead-letters", changelog):
        topic = key if key == changelog else topic_name(settings, key)
        ends = last_data_offsets(deployment.bootstrap, topic)
        assert ends, f"nothing was written to {topic}"
        plain = {p: e for p, e in ends.items() if e[0] >= e[1] - 1}
        assert not plain, f"{topic}: partitions end with a non-transactional record: {plain}"


@pytest.mark.parametrize("store", ["rocksdb", "memory"])
def test_two_workers_share_partitions_and_one_takes_over(deployment, store):
    first, second = mixed_workload(12_000, seed=23), mixed_workload(12_000, seed=24)
    exp_first, _ = offline_scores(deployment, first)
    reader = ResultReader(deployment)
    # Both stores: the survivor recovers the partitions it takes over, and keeps its own.
    a = deployment.start_worker("a", STREAMSCORE_TABLE_STORE=store)
    b = deployment.start_worker("b", STREAMSCORE_TABLE_STORE=store)
    try:
        deployment.produce(first)
        reader.wait_for(len(exp_first), len(first.malformed), timeout=600, workers=[a, b])
        # The results can all be in while the second worker's join is still being assigned
        # (on a loaded machine a worker takes tens of seconds to start): wait for that first.
        deadline = time.monotonic() + 120
        while True:
            members = deployment.group_members()
            inputs = {
                tp
                for tps in members.values()
                for tp in tps
                if tp[0].endswith(("activity", "raw-logs"))
            }
            shared = len(members) == 2 and all(
                any(tp in inputs for tp in tps) for tps in members.values()
            )
            if shared or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert len(members) == 2, members
        assert all(any(tp in inputs for tp in tps) for tps in members.values()), (
            f"both workers should hold input partitions: {members}"
        )
        assert len(inputs) == 12  # 6 partitions of each input topic, all assigned

        stop(b)
        deployment.produce(second)
        total = len(exp_first) + len(w_keys := offline_scores(deployment, second)[0])
        reader.wait_for(
            total, len(first.malformed) + len(second.malformed), timeout=600, workers=[a]
        )
        members = deployment.group_members()
        assert (
            len(members) == 1
            and len(
                {
                    tp
                    for tps in members.values()
                    for tp in tps
                    if tp[0].endswith(("activity", "raw-logs"))
                }
            )
            == 12
        )
    finally:
        stop(a)
        stop(b)
        reader.close()
    # Second workload's state builds on the first's (same users): compare ids, not scores.
    expected = {**exp_first, **w_keys}
    assert_exactly_once(
        reader, expected, len(first.malformed) + len(second.malformed), deployment.log_tail("a")
    )


def test_marker_check_tells_transactional_from_plain_writes(kafka_bootstrap, make_topic):
    """The check the SIGKILL test relies on fails for records written outside transactions."""
    from confluent_kafka import Producer

    plain, txn = make_topic(partitions=2), make_topic(partitions=2)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for p in (0, 1):
        producer.produce(plain, b"x", partition=p)
    producer.flush(30)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "transactional.id": txn})
    producer.init_transactions(30)
    producer.begin_transaction()
    for p in (0, 1):
        producer.produce(txn, b"x", partition=p)
    producer.commit_transaction(30)
    assert last_data_offsets(kafka_bootstrap, plain) == {0: (0, 1), 1: (0, 1)}
    assert last_data_offsets(kafka_bootstrap, txn) == {0: (0, 2), 1: (0, 2)}  # marker at 1


def test_processes_flag_starts_workers_in_one_group(deployment):
    """`streamscore worker --processes 2`: two processes share the partitions as one group,
    and SIGTERM to the parent stops both."""
    w = mixed_workload(10_000, seed=25)
    expected, _ = offline_scores(deployment, w)
    reader = ResultReader(deployment)
    parent = deployment.start_worker("p", args=("--processes", "2"))
    try:
        deployment.produce(w)
        reader.wait_for(len(expected), len(w.malformed), timeout=600, workers=[parent])
        members = deployment.group_members()
        assert len(members) == 2, members
        assert all(tps for tps in members.values()), f"a process holds nothing: {members}"
    finally:
        stop(parent)
        reader.close()
    assert parent.returncode == 0, deployment.log_tail("p")
    assert_exactly_once(reader, expected, len(w.malformed), deployment.log_tail("p"))
