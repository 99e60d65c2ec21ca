"""10,000 keyed messages through a real 3-partition topic, with confluent-kafka."""

from __future__ import annotations

import time
from collections import defaultdict

import pytest
from confluent_kafka import Consumer, Producer

pytestmark = pytest.mark.kafka

N = 10_000


def test_keyed_messages_come_back_intact_and_in_partition_order(kafka_bootstrap, make_topic):
    topic = make_topic(partitions=3)
    producer = Producer(
        {"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True, "linger.ms": 5}
    )
    delivered: dict[bytes, int] = {}

    def on_delivery(err, msg):
        assert err is None, err
        delivered[msg.value()] = msg.partition()

    sent = [(f"user-{i % 97}".encode(), f"{i}:payload-{i * 7919}".encode()) for i in range(N)]
    for key, value in sent:
        producer.produce(topic, value, key, on_delivery=on_delivery)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert len(delivered) == N

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"rt-{topic}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    got: dict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
    deadline = time.monotonic() + 60
    count = 0
    while count < N and time.monotonic() < deadline:
        for msg in consumer.consume(1000, timeout=1.0):
            assert msg.error() is None, msg.error()
            got[msg.partition()].append((msg.key(), msg.value()))
            count += 1
    consumer.close()

    assert count == N, f"consumed {count} of {N}"
    assert sorted(got) == [0, 1, 2], "keys should spread over all 3 partitions"
    for partition, records in got.items():
        expected = [(k, v) for k, v in sent if delivered[v] == partition]
        assert records == expected, f"partition {partition}: order or content differs"
    # The same key always lands on the same partition.
    partitions_of_key: dict[bytes, set[int]] = defaultdict(set)
    for partition, records in got.items():
        for key, _ in records:
            partitions_of_key[key].add(partition)
    assert all(len(p) == 1 for p in partitions_of_key.values())
