"""confluent-kafka clients configured the way every streamscore tool needs them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

from confluent_kafka import Consumer, Message, Producer

from streams.topics import MAX_MESSAGE_BYTES

__all__ = ["make_consumer", "make_producer", "read_topic"]


def make_producer(bootstrap: str, **config: object) -> Producer:
    """An idempotent producer with Kafka's default (murmur2) partitioner for keyed records.

    It sends records up to the largest record limit of any topic (``topics.MAX_MESSAGE_BYTES``);
    the broker still holds each topic to its own limit.
    """
    base = {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "linger.ms": 5,
        "batch.size": 1_000_000,
        "compression.type": "lz4",
        "partitioner": "murmur2_random",  # the Java/Faust partitioner: same key, same partition
        "queue.buffering.max.messages": 1_000_000,
        "message.max.bytes": MAX_MESSAGE_BYTES,  # Arrow batches, dead letters: see streams.topics
    }
    base.update(config)
    return Producer(base)


def make_consumer(bootstrap: str, group: str | None = None, **config: object) -> Consumer:
    """A read_committed consumer that starts at the earliest offset and commits nothing."""
    base = {
        "bootstrap.servers": bootstrap,
        "group.id": group or f"streamscore-tool-{uuid.uuid4().hex[:12]}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
    }
    base.update(config)
    return Consumer(base)


def read_topic(
    bootstrap: str,
    topic: str,
    *,
    max_records: int | None = None,
    idle_s: float = 5.0,
    from_beginning: bool = True,
    follow: bool = False,
) -> Iterator[Message]:
    """Yield committed records of ``topic``; stop after ``max_records`` or ``idle_s`` without one.

    With ``follow``, keep waiting for new records instead of stopping when idle.
    """
    consumer = make_consumer(
        bootstrap, **({} if from_beginning else {"auto.offset.reset": "latest"})
    )
    consumer.subscribe([topic])
    seen = 0
    last = time.monotonic()
    try:
        while max_records is None or seen < max_records:
            batch = consumer.consume(1000, timeout=0.5)
            if not batch:
                if not follow and time.monotonic() - last > idle_s:
                    return
                continue
            last = time.monotonic()
            for msg in batch:
                if msg.error() is not None:
                    continue
                yield msg
                seen += 1
                if max_records is not None and seen >= max_records:
                    return
    finally:
        consumer.close()
