"""Every Kafka topic streamscore uses, declared once: name, partitions, retention, serialisation.

Names are logical keys (``"activity"``); the real topic name is the settings' ``topic_prefix``
plus the key, so several deployments can share one cluster. ``create_topics`` is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from streams.errors import KafkaSetupError
from streams.settings import Settings

__all__ = ["TOPICS", "TopicSpec", "create_topics", "list_topics", "topic_name"]

Serialisation = Literal[
    "raw-log-line",  # one raw log line (syslog, dpkg, access log, ...) or a Logstash JSON document
    "activity-json",  # one activity event as JSON, or an Arrow IPC stream of many (header-tagged)
    "outcome-json",  # one delayed label as JSON
    "feature-arrow",  # feature snapshot batch (what a model saw), Arrow IPC record batch
    "score-flatbuffer",  # schemas/scores.fbs ScoreResult, one per event and model
    "score-batch-flatbuffer",  # schemas/score_batch.fbs ScoreBatch, columnar
    "dead-letter-flatbuffer",  # schemas/deadletter.fbs DeadLetter
    "model-event-json",  # registry decisions and champion changes (compacted per model)
]

_DAY_MS = 24 * 3600 * 1000
BULK_MESSAGE_BYTES = 16 * 1024 * 1024
"""Largest record on the topics that carry many events per record (Arrow input, feature
snapshots, ScoreBatch). Writers keep theirs well under it (see ``streams.pipeline``)."""


@dataclass(frozen=True)
class TopicSpec:
    """One topic's declaration."""

    key: str
    partitions: int
    serialisation: Serialisation
    description: str
    cleanup_policy: Literal["delete", "compact"] = "delete"
    retention_ms: int = 7 * _DAY_MS
    max_message_bytes: int | None = None  # None: the broker's default (1 MiB)
    # Input topics stamp each record with the broker's clock when it is appended: the start of
    # end-to-end latency, and the clock retention runs on, whatever time a producer gives (a
    # replayed history carries its events' past times).
    log_append_time: bool = False

    def config(self) -> dict[str, str]:
        """Topic-level configs to create it with."""
        out = {"cleanup.policy": self.cleanup_policy}
        if self.cleanup_policy == "delete":
            out["retention.ms"] = str(self.retention_ms)
        if self.max_message_bytes:
            out["max.message.bytes"] = str(self.max_message_bytes)
        if self.log_append_time:
            out["message.timestamp.type"] = "LogAppendTime"
        return out


TOPICS: dict[str, TopicSpec] = {
    spec.key: spec
    for spec in (
        TopicSpec(
            "raw-logs",
            6,
            "raw-log-line",
            "raw machine log lines, keyed by host",
            log_append_time=True,
        ),
        TopicSpec(
            "activity",
            6,
            "activity-json",
            "user activity events, keyed by user id",
            max_message_bytes=BULK_MESSAGE_BYTES,
            log_append_time=True,
        ),
        TopicSpec(
            "outcomes",
            6,
            "outcome-json",
            "delayed churn/upsell labels, keyed by user id",
            retention_ms=30 * _DAY_MS,
        ),
        TopicSpec(
            "features",
            6,
            "feature-arrow",
            "feature snapshots as scored, for retraining",
            retention_ms=30 * _DAY_MS,
            max_message_bytes=BULK_MESSAGE_BYTES,
        ),
        TopicSpec("scores", 6, "score-flatbuffer", "per-event ScoreResult, keyed by entity"),
        TopicSpec(
            "score-batches",
            6,
            "score-batch-flatbuffer",
            "columnar ScoreBatch per batch",
            max_message_bytes=BULK_MESSAGE_BYTES,
        ),
        TopicSpec(
            "dead-letters",
            6,
            "dead-letter-flatbuffer",
            "rejected input with origin, stage and reason",
            retention_ms=30 * _DAY_MS,
        ),
        TopicSpec(
            "model-events",
            1,
            "model-event-json",
            "registry decisions and champion changes, keyed by model name; an event that "
            "changes the champion carries the version's files (a few hundred KB)",
            cleanup_policy="compact",
            max_message_bytes=BULK_MESSAGE_BYTES,
        ),
    )
}
"""All topics, by logical key."""


def topic_name(settings: Settings, key: str) -> str:
    """The real topic name of logical topic ``key`` (raises KeyError naming the known keys)."""
    if key not in TOPICS:
        raise KeyError(f"unknown topic {key!r}; expected one of {sorted(TOPICS)}")
    return settings.topic_prefix + key


def _admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def create_topics(
    settings: Settings, bootstrap: str, keys: Iterable[str] | None = None, timeout_s: float = 30.0
) -> dict[str, str]:
    """Create the declared topics that do not exist yet; return ``{name: "created"|"exists"}``.

    A topic that exists with another partition count is reported as ``"exists (N partitions)"``;
    it is not altered. Raises :class:`KafkaSetupError` on any other broker error.
    """
    specs = [TOPICS[k] for k in (keys if keys is not None else TOPICS)]
    admin = _admin(bootstrap)
    existing = admin.list_topics(timeout=timeout_s).topics
    result: dict[str, str] = {}
    new: list[NewTopic] = []
    for spec in specs:
        name = topic_name(settings, spec.key)
        if name in existing:
            have = len(existing[name].partitions)
            result[name] = "exists" if have == spec.partitions else f"exists ({have} partitions)"
        else:
            # -1: the cluster's default.replication.factor (1 on the local broker).
            new.append(NewTopic(name, spec.partitions, -1, config=spec.config()))
    for name, future in admin.create_topics(new, request_timeout=timeout_s).items() if new else ():
        try:
            future.result()
            result[name] = "created"
        except KafkaException as exc:
            if exc.args[0].name() == "TOPIC_ALREADY_EXISTS":  # lost a race with another creator
                result[name] = "exists"
            else:
                raise KafkaSetupError(f"creating topic {name} failed: {exc}") from exc
    return result


def list_topics(bootstrap: str, timeout_s: float = 30.0) -> dict[str, int]:
    """All non-internal topics on the cluster with their partition counts."""
    meta = _admin(bootstrap).list_topics(timeout=timeout_s)
    return {
        name: len(t.partitions)
        for name, t in sorted(meta.topics.items())
        if not name.startswith("__")
    }
