"""Every Kafka topic streamscore uses, declared once: name, partitions, retention, serialisation.

Names are logical keys (``"activity"``); the real topic name is the settings' ``topic_prefix``
plus the key, so several deployments can share one cluster. Creating them on a cluster
(idempotent) is :func:`streams.kafka.admin.create_topics`.

Record size limits (``max.message.bytes``) are declared here too, and the rest follows from
them: the dead-letters topic takes the largest input record plus the dead-letter envelope
(:data:`DEAD_LETTER_MESSAGE_BYTES`), so that the dead letter of any record an input topic
accepted fits, and every producer of the pipeline may send records up to
:data:`MAX_MESSAGE_BYTES`, the largest limit declared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from schemas.deadletter import ENVELOPE_BYTES
from streams.settings import Settings

__all__ = [
    "BULK_MESSAGE_BYTES",
    "DEAD_LETTER_MESSAGE_BYTES",
    "INPUT_TOPICS",
    "LOG_LINE_MESSAGE_BYTES",
    "MAX_MESSAGE_BYTES",
    "TOPICS",
    "TopicSpec",
    "topic_name",
]

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

LOG_LINE_MESSAGE_BYTES = 8 * 1024 * 1024
"""Largest record on raw-logs: one log line, Logstash document or apt history stanza. The parser
takes stanzas up to 4 MiB (``ParseOptions.max_stanza_bytes``) and rejects longer lines as dead
letters; the topic accepts all of those, with room for the key and framing."""


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


_INPUTS = (
    TopicSpec(
        "raw-logs",
        6,
        "raw-log-line",
        "raw machine log lines, keyed by host",
        max_message_bytes=LOG_LINE_MESSAGE_BYTES,
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
)

INPUT_TOPICS: tuple[str, ...] = tuple(spec.key for spec in _INPUTS)
"""The topics the workers score, whose rejected records become dead letters."""

DEAD_LETTER_MESSAGE_BYTES = (
    max(BULK_MESSAGE_BYTES, *(spec.max_message_bytes or 0 for spec in _INPUTS)) + ENVELOPE_BYTES
)
"""Record limit of dead-letters: a dead letter copies at most the whole input value (and at most
``Settings.dead_letter_max_value_bytes``, itself at most ``BULK_MESSAGE_BYTES``) plus its
envelope (``schemas.deadletter.ENVELOPE_BYTES``), so the dead letter of any input record fits."""

TOPICS: dict[str, TopicSpec] = {
    spec.key: spec
    for spec in (
        *_INPUTS,
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
            "rejected input with origin, stage and reason (a value above the cap as its first "
            "bytes, length and SHA-256)",
            retention_ms=30 * _DAY_MS,
            max_message_bytes=DEAD_LETTER_MESSAGE_BYTES,
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

MAX_MESSAGE_BYTES = max(spec.max_message_bytes or 0 for spec in TOPICS.values())
"""The largest record limit of any topic: what the pipeline's producers must be able to send
(librdkafka ``message.max.bytes``, aiokafka ``max_request_size``)."""


def topic_name(settings: Settings, key: str) -> str:
    """The real topic name of logical topic ``key`` (raises KeyError naming the known keys)."""
    if key not in TOPICS:
        raise KeyError(f"unknown topic {key!r}; expected one of {sorted(TOPICS)}")
    return settings.topic_prefix + key
