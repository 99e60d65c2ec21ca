"""kcat, a Kafka client nobody here wrote, sees the broker and what we produced."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from confluent_kafka import Producer

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def kcat() -> str:
    path = shutil.which("kcat") or shutil.which("kafkacat")
    if path is None:
        pytest.fail("kcat is not installed; `make test` installs it (apt-get install -y kcat)")
    return path


def test_kcat_lists_metadata_and_consumes_what_we_produced(kcat, kafka_bootstrap, make_topic):
    topic = make_topic(partitions=3)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    sent = {f"k{i}": f"value-{i}" for i in range(300)}
    for key, value in sent.items():
        producer.produce(topic, value.encode(), key.encode())
    assert producer.flush(30) == 0

    meta = subprocess.run(
        [kcat, "-b", kafka_bootstrap, "-L", "-J", "-t", topic],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    listing = json.loads(meta.stdout)
    assert [t["topic"] for t in listing["topics"]] == [topic]
    assert len(listing["topics"][0]["partitions"]) == 3
    assert len(listing["brokers"]) >= 1

    out = subprocess.run(
        [
            kcat,
            "-b",
            kafka_bootstrap,
            "-C",
            "-t",
            topic,
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%k\t%s\n",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    got = dict(line.split("\t", 1) for line in out.stdout.splitlines())
    assert got == sent
