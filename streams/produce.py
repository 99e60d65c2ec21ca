"""Producing input to streamscore's topics: keyed by entity, rate-limited, batched.

Every record is keyed by its entity (user id, or host for machine logs) and placed with Kafka's
default partitioner, so an entity's events reach the partition that holds its window state
whether they come as single JSON events, raw log lines or rows of an Arrow batch (which is split
by partition before sending). Records that cannot be keyed (they do not parse) are sent without a
key: the workers turn them into dead letters, which is what replaying a file should show.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa

from kernels.partition import kafka_partitions
from streams.kafka.clients import make_producer
from streams.settings import Settings
from streams.topics import TOPICS, topic_name

__all__ = ["ProduceStats", "Publisher", "arrow_payloads", "replay_file", "replay_simulation"]


@dataclass
class ProduceStats:
    """What a :class:`Publisher` sent: records (Kafka messages) and events per topic key."""

    records: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def add(self, key: str, records: int, events: int) -> None:
        self.records[key] = self.records.get(key, 0) + records
        self.events[key] = self.events.get(key, 0) + events

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


class Publisher:
    """Sends keyed payloads and Arrow batches to the logical topics, at most ``rate`` events/s.

    ``rate`` of ``None`` sends as fast as Kafka takes them. Call :meth:`close` (or use as a
    context manager) to flush; it raises ``RuntimeError`` listing delivery errors, if any.
    """

    def __init__(self, settings: Settings, bootstrap: str, rate: float | None = None) -> None:
        self._settings = settings
        self._producer = make_producer(bootstrap, settings=settings)
        self._rate = rate
        self._errors: list[str] = []
        self.stats = ProduceStats()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_delivery(self, err, msg) -> None:
        if err is not None and len(self._errors) < 20:
            self._errors.append(f"{msg.topic()}: {err}")

    def _pace(self, events: int) -> None:
        if self._rate:
            total = sum(self.stats.events.values()) + events
            ahead = total / self._rate - self.stats.seconds
            if ahead > 0:
                time.sleep(ahead)

    def _produce(self, topic: str, value: bytes, key: bytes | None, partition: int) -> None:
        while True:
            try:
                if partition >= 0:
                    self._producer.produce(
                        topic, value, key, partition=partition, on_delivery=self._on_delivery
                    )
                else:
                    self._producer.produce(topic, value, key, on_delivery=self._on_delivery)
                return
            except BufferError:  # local queue full: let librdkafka drain it
                self._producer.poll(0.05)

    def send(self, key: str, payloads: Sequence[bytes], keys: Sequence[bytes | None]) -> None:
        """One record per payload to logical topic ``key``, keyed (None: unkeyed)."""
        self._pace(len(payloads))
        topic = topic_name(self._settings, key)
        for value, k in zip(payloads, keys, strict=True):
            self._produce(topic, value, k, -1)
        self._producer.poll(0)
        self.stats.add(key, len(payloads), len(payloads))

    def send_arrow(self, table: pa.Table, key: str = "activity", entity: str = "user_id") -> None:
        """``table``'s rows as Arrow IPC messages, one per destination partition (by entity)."""
        self._pace(table.num_rows)
        topic = topic_name(self._settings, key)
        n = TOPICS[key].partitions
        parts = kafka_partitions(table.column(entity), n)
        sent = 0
        for p, payload in arrow_payloads(table, parts):
            self._produce(topic, payload, None, p)
            sent += 1
        self._producer.poll(0)
        self.stats.add(key, sent, table.num_rows)

    def flush_soon(self) -> None:
        """Serve delivery callbacks and let queued records leave now (no waiting)."""
        self._producer.poll(0)

    def close(self) -> None:
        left = self._producer.flush(60)
        if left or self._errors:
            raise RuntimeError(
                f"producing: {left} records not delivered; errors: {self._errors[:5]}"
            )


def arrow_payloads(table: pa.Table, partitions: np.ndarray) -> Iterable[tuple[int, bytes]]:
    """(partition, Arrow IPC stream bytes) for the rows of ``table`` going to each partition."""
    for p in np.unique(partitions).tolist():
        rows = table.filter(pa.array(partitions == p))
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, rows.schema) as writer:
            writer.write_table(rows)
        yield int(p), sink.getvalue()


def _topic_of_rejected(raw: bytes, fmt: str) -> str:
    if fmt in ("activity", "arrow") or (raw[:1] == b"{" and b'"user_id"' in raw[:4096]):
        return "activity"
    return "raw-logs"


def replay_file(pub: Publisher, path: Path, fmt: str = "auto") -> Iterator[int]:
    """Send one file's records (see the module docstring); yield events sent per chunk."""
    from streams.etl import read_file

    for chunk in read_file(path, fmt):
        parsed = chunk.parsed
        if chunk.payloads is None:  # a table of activity or normalised events
            if parsed.events.num_rows:
                pub.send_arrow(pa.Table.from_batches([parsed.events]), entity="entity")
            for rej in parsed.rejected:
                pub.send("activity", [rej.raw], [None])
            yield parsed.events.num_rows + len(parsed.rejected)
            continue
        entity = parsed.events.column("entity").to_pylist()
        source = parsed.events.column("source").to_pylist()
        first_event = {}
        for k, i in enumerate(parsed.source_index.tolist()):
            first_event.setdefault(i, k)
        routed: dict[str, tuple[list[bytes], list[bytes | None]]] = {
            "activity": ([], []),
            "raw-logs": ([], []),
        }
        for i, raw in enumerate(chunk.payloads):
            k = first_event.get(i)
            if k is None:
                key, topic = None, _topic_of_rejected(raw, fmt)
            else:
                key = entity[k].encode()
                topic = "activity" if source[k] == "activity" else "raw-logs"
            routed[topic][0].append(raw)
            routed[topic][1].append(key)
        for topic, (values, keys) in routed.items():
            if values:
                pub.send(topic, values, keys)
        yield len(chunk.payloads)


def replay_simulation(
    pub: Publisher,
    *,
    users: int,
    days: int,
    seed: int,
    drift_day: int | None = None,
    arrow: bool = False,
    batch_size: int = 5000,
) -> Iterator[int]:
    """Draw a simulation and send it in time order: activity (JSON events, or Arrow batches
    with ``arrow``), raw machine-log lines and delayed outcomes. Yields events sent per batch."""
    from models.simulate import SimConfig, iter_payload_batches, simulate

    config = SimConfig(
        n_users=users, days=days, seed=seed, drift_day=drift_day, decision_min_day=min(28, days - 7)
    )
    result = simulate(config)
    topic_of = {"activity": "activity", "raw_logs": "raw-logs", "outcomes": "outcomes"}
    for batch in iter_payload_batches(result, batch_size=batch_size):
        if arrow and batch.kind == "activity":
            events = [orjson.loads(p) for p in batch.payloads]
            for e in events:
                props = e.get("properties")
                e["properties"] = None if props is None else orjson.dumps(props).decode()
            rows = pa.Table.from_pylist(events, schema=SIMULATED_ACTIVITY_SCHEMA)
            pub.send_arrow(rows)
        else:
            pub.send(topic_of[batch.kind], batch.payloads, batch.keys)
        yield len(batch.payloads)


SIMULATED_ACTIVITY_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("user_id", pa.string()),
        ("ts", pa.int64()),
        ("type", pa.string()),
        ("properties", pa.string()),
    ]
)
"""Activity events as Arrow rows: the JSON event's fields, ``properties`` as a JSON string."""
