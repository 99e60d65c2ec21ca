"""The simulator's payloads go through a real broker and come back parseable, keyed by entity."""

from __future__ import annotations

import orjson
import pytest

from models.simulate import SimConfig, send_payloads, simulate
from streams.kafka.clients import make_producer, read_topic

pytestmark = pytest.mark.kafka


def test_simulation_payloads_round_trip_through_kafka(kafka_bootstrap, make_topic):
    sim = simulate(
        SimConfig(
            n_users=30, days=21, decision_min_day=14, n_hosts=2, log_lines_per_host_day=10, seed=4
        )
    )
    topics = {kind: make_topic(partitions=2) for kind in ("activity", "raw_logs", "outcomes")}
    sent = send_payloads(sim, make_producer(kafka_bootstrap), topics, batch_size=500)
    assert sent["outcomes"] == sim.labels.num_rows and sent["raw_logs"] == len(sim.raw_logs)
    for kind, topic in topics.items():
        msgs = list(read_topic(kafka_bootstrap, topic, max_records=sent[kind], idle_s=10))
        assert len(msgs) == sent[kind], kind
        if kind != "raw_logs":
            doc = orjson.loads(msgs[0].value())
            key = doc.get("user_id", doc.get("entity"))
            assert msgs[0].key() == key.encode()
