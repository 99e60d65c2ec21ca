"""A :class:`Rejected` payload as the project's :class:`~schemas.deadletter.DeadLetter`.

:func:`dead_letter_of` builds every dead letter: the stream processor's (records that parse,
validation, featurising or scoring refused) and those of callers outside the pipeline.
"""

from __future__ import annotations

import time

from schemas.deadletter import DEFAULT_MAX_VALUE_BYTES, DeadLetter, cap_dead_letter
from streams.etl.types import Rejected, TopicOrigin

__all__ = ["dead_letter_of"]


def dead_letter_of(
    rejected: Rejected,
    *,
    key: bytes | None = None,
    record_time_ms: int = -1,
    dead_time_ms: int | None = None,
    tombstone: bool = False,
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
) -> DeadLetter:
    """The dead letter of one rejection: raw bytes untouched, origin, stage and reason.

    The stage is the rejection's own :class:`~schemas.deadletter.DeadLetterStage`, set by the
    typed error that refused the record; nothing translates it. A Kafka origin fills
    topic/partition/offset; a file origin becomes ``source_topic`` ``"path:line"`` with
    partition and offset -1 (not from Kafka). ``tombstone=True`` keeps a record that had no
    value as ``value=None``. ``dead_time_ms`` defaults to now (UTC ms). A value above
    ``max_value_bytes`` (or a key above 16 KiB) is kept as its first bytes, length and SHA-256
    (:func:`schemas.cap_dead_letter`): the letter returned is what encoding it writes, so its
    ``key`` can key the dead-letter record.
    """
    origin = rejected.origin
    if isinstance(origin, TopicOrigin):
        topic, partition, offset = origin.topic, origin.partition, origin.offset
    else:
        topic, partition, offset = str(origin), -1, -1
    letter = DeadLetter(
        value=None if tombstone else rejected.raw,
        source_topic=topic,
        stage=rejected.stage,
        reason=rejected.reason,
        dead_time_ms=int(time.time() * 1000) if dead_time_ms is None else dead_time_ms,
        key=key,
        source_partition=partition,
        source_offset=offset,
        record_time_ms=record_time_ms,
    )
    return cap_dead_letter(letter, max_value_bytes)
