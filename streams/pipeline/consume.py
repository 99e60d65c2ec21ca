"""The scoring path's input side: librdkafka's consumer, whole batches, rebalance hooks, rewind.

:class:`BatchConsumer` wraps one ``confluent_kafka.Consumer`` in the worker's consumer group
(read_committed, offsets committed only by the scoring loop, the range assignor: with every
member subscribed to the same input topics of equal partition count, partition number ``p`` of
each input lands on the same member, so one member owns ``p``'s window state and changelog).
It hands out whole batches as librdkafka returns them: whatever is queued, up to ``max_records``,
and when nothing is, it waits for the first record only, so a batch at light load is small and
leaves at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

import numpy as np
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from streams.kafka.clients import make_consumer
from streams.metrics import CONSUMER_LAG
from streams.pipeline.records import SourceRecords
from streams.settings import Settings

__all__ = ["BatchConsumer", "to_records"]

_log = logging.getLogger(__name__)

LAG_INTERVAL_S = 5.0
"""How often the consumer lag of the assigned partitions is exported (seconds)."""

Rebalance = Callable[[list[TopicPartition]], None]


class BatchConsumer:
    """The worker's input consumer (see the module docstring).

    ``on_assign``/``on_revoke``/``on_lost`` run inside :meth:`take` (librdkafka calls them from
    ``consume``), before the first record of a new assignment is returned.
    """

    def __init__(
        self,
        bootstrap: str,
        group: str,
        topics: list[str],
        *,
        on_assign: Rebalance,
        on_revoke: Rebalance,
        on_lost: Rebalance,
        client_config: dict | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.group = group
        self.topics = topics
        self._on_assign, self._on_revoke, self._on_lost = on_assign, on_revoke, on_lost
        self._consumer: Consumer = make_consumer(
            bootstrap,
            group,
            settings=settings,
            **{
                "partition.assignment.strategy": "range",
                "session.timeout.ms": 10_000,  # a killed worker's partitions move after 10 s
                "heartbeat.interval.ms": 2_000,
                "enable.auto.offset.store": False,
                "fetch.wait.max.ms": 100,
                **(client_config or {}),
            },
        )
        self._consumer.subscribe(
            topics,
            on_assign=self._assigned,
            on_revoke=self._revoked,
            on_lost=self._lost,
        )
        self._next_lag = 0.0

    # --- records -------------------------------------------------------------------------------

    def take(self, max_records: int, wait_s: float) -> list:
        """The records queued now (at most ``max_records``); if none, wait up to ``wait_s`` for
        the first and take it with whatever came with it. Error events are logged, not returned.
        """
        msgs = self._consumer.consume(max_records, 0)
        if not msgs:
            msgs = self._consumer.consume(1, wait_s)
            if msgs and max_records > 1:
                msgs += self._consumer.consume(max_records - 1, 0)
        if time.monotonic() >= self._next_lag:
            self._export_lag()
        good = [m for m in msgs if m.error() is None]
        if len(good) != len(msgs):
            for m in msgs:
                err = m.error()
                if err is not None and err.code() != KafkaError._PARTITION_EOF:
                    _log.warning("consumer error on %s [%s]: %s", m.topic(), m.partition(), err)
        return good

    def serve(self, seconds: float) -> int:
        """Run librdkafka's callbacks (rebalance, errors) for ``seconds``, dropping the records
        that come with them; returns how many were dropped. Only for a consumer about to seek
        back over them (:meth:`rewind`)."""
        dropped = 0
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            dropped += len(self._consumer.consume(10_000, left))
        return dropped

    def rewind(self, timeout_s: float = 30.0) -> None:
        """Seek every assigned partition back to its committed offset (after an abort)."""
        assignment = self._consumer.assignment()
        if not assignment:
            return
        committed = self._consumer.committed(assignment, timeout=timeout_s)
        for tp in committed:
            if tp.offset < 0:
                tp.offset = OFFSET_BEGINNING
            try:
                self._consumer.seek(tp)
            except KafkaException as exc:
                # Not fetching yet (just assigned): it starts at the committed offset anyway.
                _log.debug("seek %s [%d] to %d: %s", tp.topic, tp.partition, tp.offset, exc)

    def group_metadata(self):
        return self._consumer.consumer_group_metadata()

    def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        """Commit ``offsets`` (at-least-once only; exactly-once commits them in transactions)."""
        self._consumer.commit(offsets=_topic_partitions(offsets), asynchronous=False)

    def watermarks(self, tp: TopicPartition) -> tuple[int, int]:
        """(low, high) watermark of any partition, asked of the broker."""
        return self._consumer.get_watermark_offsets(tp, timeout=10)

    def assignment(self) -> list[TopicPartition]:
        return self._consumer.assignment()

    def close(self) -> None:
        self._consumer.close()  # runs on_revoke for what is still assigned

    def abandon(self) -> None:
        """Close on a thread of its own, the rebalance hooks disconnected first: this consumer
        is being replaced, and nothing it still reports may touch its owner's state."""
        self._on_assign = self._on_revoke = self._on_lost = _ignore
        threading.Thread(target=self._close_quietly, name="abandoned-consumer", daemon=True).start()

    def _close_quietly(self) -> None:
        try:
            self._consumer.close()
        except Exception as exc:
            _log.debug("closing an abandoned consumer: %s", exc)

    # --- rebalance ---------------------------------------------------------------------------

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        _log.info("assigned %s", _names(partitions))
        self._on_assign(partitions)

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        _log.info("revoked %s", _names(partitions))
        self._on_revoke(partitions)

    def _lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        _log.warning("lost %s (this worker left the group, e.g. it was frozen)", _names(partitions))
        self._on_lost(partitions)

    def _export_lag(self) -> None:
        self._next_lag = time.monotonic() + LAG_INTERVAL_S
        try:
            assignment = self._consumer.assignment()
            for tp in self._consumer.position(assignment) if assignment else ():
                _, high = self._consumer.get_watermark_offsets(tp, cached=True)
                if tp.offset >= 0 and high >= 0:
                    CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, high - tp.offset))
        except KafkaException as exc:  # a rebalance mid-probe; next time
            _log.debug("consumer lag probe failed: %s", exc)


def to_records(msgs: list) -> list[SourceRecords]:
    """One :class:`SourceRecords` per topic of ``msgs``: grouped by partition (a stable sort keeps
    the offset order of each partition), with Kafka timestamps in epoch ms (-1 if unknown)."""
    by_topic: dict[str, list] = {}
    for m in msgs:
        by_topic.setdefault(m.topic(), []).append(m)
    out = []
    for topic, group in by_topic.items():
        n = len(group)
        partitions = np.fromiter((m.partition() for m in group), np.int32, n)
        if n > 1 and np.any(np.diff(partitions) < 0):
            order = np.argsort(partitions, kind="stable")
            group = [group[i] for i in order.tolist()]
            partitions = partitions[order]
        out.append(
            SourceRecords(
                topic=topic,
                partitions=partitions,
                offsets=np.fromiter((m.offset() for m in group), np.int64, n),
                keys=[m.key() for m in group],
                values=[m.value() for m in group],
                timestamps_ms=np.fromiter((m.timestamp()[1] for m in group), np.int64, n),
            )
        )
    return out


def next_offsets(records: SourceRecords) -> dict[tuple[str, int], int]:
    """(topic, partition) -> the offset after the last record of each partition."""
    parts = records.partitions
    last = np.flatnonzero(np.r_[parts[1:] != parts[:-1], True])
    return {(records.topic, int(parts[i])): int(records.offsets[i]) + 1 for i in last.tolist()}


def _topic_partitions(offsets: dict[tuple[str, int], int]) -> list[TopicPartition]:
    return [TopicPartition(t, p, o) for (t, p), o in offsets.items()]


def _names(partitions: Iterable[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "nothing"


def _ignore(partitions: list[TopicPartition]) -> None:
    """The rebalance hooks of an abandoned consumer."""
