"""The GUI's Kafka reader outlives the errors of a topic created a moment ago.

A stand-in consumer plays the broker: at first the scores partition has no leader, then the
watermark request fails with NOT_LEADER_FOR_PARTITION (what a real broker answered in the
browser test, which killed the feed thread and left the page without scores for good), then
records arrive. The page's state must end up with them.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
from confluent_kafka import KafkaError, KafkaException

from schemas import ScoreColumns, encode_score_results
from streams.settings import load_settings
from streams.web import LiveState
from streams.web import feed as feed_module


class FakeMessage:
    def __init__(self, topic: str, value: bytes) -> None:
        self._topic, self._value = topic, value

    def topic(self) -> str:
        return self._topic

    def value(self) -> bytes:
        return self._value

    def key(self) -> None:
        return None

    def error(self) -> None:
        return None


class FlakyBroker:
    """One partition per topic; its first answers are those of a topic still being created."""

    def __init__(self, scores_topic: str, records: list[bytes]) -> None:
        self.scores_topic = scores_topic
        self.records = records
        self.metadata_calls = 0
        self.watermark_calls = 0
        self.assigned: list = []

    def consumer(self, config: dict) -> FlakyBroker:
        return self

    def list_topics(self, timeout: float) -> SimpleNamespace:
        self.metadata_calls += 1
        leader = -1 if self.metadata_calls == 1 else 1  # elected after the first look
        part = SimpleNamespace(id=0, leader=leader, error=None)
        names = [self.scores_topic.replace("scores", k) for k in ("scores", "dead-letters")]
        names.append(self.scores_topic.replace("scores", "model-events"))
        topics = {n: SimpleNamespace(error=None, partitions={0: part}) for n in names}
        return SimpleNamespace(topics=topics)

    def get_watermark_offsets(self, tp, timeout: float) -> tuple[int, int]:
        self.watermark_calls += 1
        if self.watermark_calls == 1:
            raise KafkaException(
                KafkaError(
                    KafkaError.NOT_LEADER_FOR_PARTITION,
                    "Failed to get watermark offsets: Broker: Not leader for partition",
                )
            )
        return 0, 0

    def assign(self, tps: list) -> None:
        self.assigned = tps

    def consume(self, n: int, timeout: float) -> list[FakeMessage]:
        assert self.assigned, "consume before assign"
        time.sleep(timeout)
        out = [FakeMessage(self.scores_topic, v) for v in self.records]
        self.records = []
        return out

    def close(self) -> None:
        pass


def score_records(n: int) -> list[bytes]:
    cols = ScoreColumns(
        model_name="churn",
        model_version="v0001",
        event_id=[f"e{i}" for i in range(n)],
        entity=[f"u{i}" for i in range(n)],
        score=np.linspace(0.1, 0.9, n).astype(np.float32),
        decision=np.linspace(0.1, 0.9, n) >= 0.5,
        fallback=np.zeros(n, bool),
        served_by=["churn@v0001"] * n,
        event_time_ms=np.zeros(n, np.int64),
        scored_time_ms=np.zeros(n, np.int64),
    )
    return encode_score_results(cols)


def test_feed_retries_a_partition_without_leader_and_then_shows_scores(monkeypatch, tmp_path):
    settings = load_settings(env={}, state_dir=tmp_path, topic_prefix="t.")
    broker = FlakyBroker("t.scores", score_records(3))
    monkeypatch.setattr(feed_module, "make_consumer", lambda *a, **k: broker)
    # metadata from the same stand-in; its lag probes fail (no such methods) and are logged
    monkeypatch.setattr(feed_module, "make_admin", lambda *a, **k: broker)
    state = LiveState()
    seen_errors = []
    set_feed_error = state.set_feed_error

    def record(error: str | None) -> None:
        if error is not None:
            seen_errors.append(error)
        set_feed_error(error)

    monkeypatch.setattr(state, "set_feed_error", record)
    feed = feed_module.Feed(settings, "fake:9092", state).start()
    try:
        deadline = time.monotonic() + 20
        while state.snapshot()["totals"]["scores"] < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        feed.stop()
    snap = state.snapshot()
    assert snap["totals"]["scores"] == 3, (broker.metadata_calls, broker.watermark_calls)
    assert [r["event_id"] for r in snap["recent"]][0] == "e2"
    assert snap["feed_error"] is None  # cleared once records flow again
    assert len(seen_errors) == 1 and "NOT_LEADER_FOR_PARTITION" in seen_errors[0], seen_errors
    assert broker.metadata_calls >= 3  # no leader, then the failed watermark, then assigned
