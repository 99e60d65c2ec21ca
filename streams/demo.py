"""The demo: a real broker, the declared topics, and real events round-tripped through Kafka.

Until the Faust pipeline lands, the demo proves the foundation end to end: it starts (or finds)
Kafka, creates every declared topic, produces generated activity events and this machine's own
log lines, reads them all back, and checks that every record came back intact and in
per-partition order.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from schemas.events import ACTIVITY_TYPES

__all__ = ["RoundTrip", "activity_payloads", "machine_log_lines", "round_trip"]

LOG_FILES = ("/var/log/dpkg.log", "/var/log/apt/history.log", "/var/log/syslog")


def activity_payloads(n: int, seed: int = 7, users: int = 500) -> Iterator[tuple[bytes, bytes]]:
    """``n`` (key, JSON value) activity events for ``users`` users, timestamps increasing."""
    rng = random.Random(seed)
    ts = 1_750_000_000_000
    for i in range(n):
        user = f"u{rng.randrange(users):05d}"
        ts += rng.randrange(1, 2000)
        event = {
            "event_id": f"demo-{seed}-{i}",
            "user_id": user,
            "ts": ts,
            "type": rng.choice(ACTIVITY_TYPES),
        }
        yield user.encode(), json.dumps(event, separators=(",", ":")).encode()


def machine_log_lines(limit: int, files: tuple[str, ...] = LOG_FILES) -> list[tuple[bytes, bytes]]:
    """Up to ``limit`` (host key, raw line) pairs from this machine's own log files."""
    host = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").exists() else "local"
    out: list[tuple[bytes, bytes]] = []
    for name in files:
        try:
            with open(name, "rb") as fh:
                for line in fh:
                    if line.strip():
                        out.append((host.encode(), line.rstrip(b"\n")))
                    if len(out) >= limit:
                        return out
        except OSError:
            continue
    return out


@dataclass(frozen=True)
class RoundTrip:
    """What one topic's round trip produced and got back."""

    topic: str
    produced: int
    consumed: int
    intact: bool  # every (partition, offset) came back with its key and value, in order
    seconds: float


def round_trip(
    bootstrap: str, topic: str, records: list[tuple[bytes, bytes]], timeout_s: float = 60.0
) -> RoundTrip:
    """Produce ``records`` to ``topic``, consume exactly those offsets back, and compare."""
    start = time.monotonic()
    sent: dict[tuple[int, int], tuple[bytes, bytes]] = {}
    errors: list[str] = []

    def on_delivery(err, msg) -> None:  # noqa: ANN001 - confluent-kafka callback signature
        if err is not None:
            errors.append(str(err))
        else:
            sent[(msg.partition(), msg.offset())] = (msg.key(), msg.value())

    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5}
    )
    for key, value in records:
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    if producer.flush(timeout_s) or errors:
        raise KafkaException(f"producing to {topic} failed: {errors[:3] or 'flush timed out'}")

    # Read back exactly the offsets just written, partition by partition.
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for partition, offset in sent:
        first[partition] = min(first.get(partition, offset), offset)
        last[partition] = max(last.get(partition, offset), offset)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"demo-check-{time.time()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.assign([TopicPartition(topic, p, o) for p, o in first.items()])
    got: dict[tuple[int, int], tuple[bytes, bytes]] = {}
    in_order = True
    previous: dict[int, int] = {}
    deadline = time.monotonic() + timeout_s
    while len(got) < len(sent) and time.monotonic() < deadline:
        for msg in consumer.consume(1000, timeout=0.5):
            if msg.error() or msg.offset() > last[msg.partition()]:
                continue
            in_order &= msg.offset() > previous.get(msg.partition(), -1)
            previous[msg.partition()] = msg.offset()
            got[(msg.partition(), msg.offset())] = (msg.key(), msg.value())
    consumer.close()
    return RoundTrip(topic, len(sent), len(got), in_order and got == sent, time.monotonic() - start)
