"""Faust (faust-streaming on aiokafka) runs an exactly-once agent against our Kafka release.

This is why streamscore can pin Kafka 4.x: if it failed, the foundation would pin 3.9.x.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from confluent_kafka import Consumer, Producer

from tests.support.cli import REPO, clean_env

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_exactly_once_faust_agent_round_trip(kafka_bootstrap, make_topic, tmp_path):
    source, sink = make_topic(partitions=2), make_topic(partitions=2)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    sent = {f"event-{i}".encode() for i in range(200)}
    for value in sent:
        producer.produce(source, value)
    assert producer.flush(30) == 0

    env = clean_env(
        ECHO_BROKER=kafka_bootstrap, ECHO_IN=source, ECHO_OUT=sink, ECHO_DATADIR=str(tmp_path)
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "faust",
            "-A",
            "tests.integration.faust_echo_app",
            "worker",
            "-l",
            "warn",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    got: list[bytes] = []
    try:
        consumer = Consumer(
            {
                "bootstrap.servers": kafka_bootstrap,
                "group.id": f"chk-{sink}",
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
            }
        )
        consumer.subscribe([sink])
        deadline = time.monotonic() + 120
        while len(got) < len(sent) and time.monotonic() < deadline and worker.poll() is None:
            got += [m.value() for m in consumer.consume(500, timeout=1.0) if m.error() is None]
        consumer.close()
    finally:
        worker.terminate()
        try:
            output, _ = worker.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            output, _ = worker.communicate()
    assert sorted(got) == sorted(v.upper() for v in sent), output[-3000:]
