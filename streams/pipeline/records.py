"""The unit of work of the stream layer: a micro-batch of records of one topic, and its output."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

__all__ = ["BatchOutput", "BatchStats", "PartitionOutput", "SourceRecords"]


@dataclass(frozen=True, slots=True)
class SourceRecords:
    """Records of one topic, grouped by partition (ascending), in offset order within each.

    ``timestamps_ms`` are the records' Kafka timestamps (UTC epoch ms; -1 when unknown). Records
    read from a file use partition -1 and line numbers as offsets.
    """

    topic: str
    partitions: np.ndarray  # int32, non-decreasing
    offsets: np.ndarray  # int64
    keys: list[bytes | None]
    values: list[bytes]
    timestamps_ms: np.ndarray  # int64

    def __post_init__(self) -> None:
        n = len(self.values)
        lengths = (len(self.partitions), len(self.offsets), len(self.keys), len(self.timestamps_ms))
        if any(k != n for k in lengths):
            raise ValueError(
                f"SourceRecords of {self.topic}: expected partitions, offsets, keys, values and "
                f"timestamps of equal length, got {(*lengths[:3], n, lengths[3])}"
            )
        if n and np.any(np.diff(self.partitions) < 0):
            raise ValueError(f"SourceRecords of {self.topic}: records must be grouped by partition")

    def __len__(self) -> int:
        return len(self.values)


@dataclass(slots=True)
class PartitionOutput:
    """What one partition's records of a batch produce; all of it goes to that partition number.

    ``scores``/``dead_letters`` are (key, value) pairs; ``state_rows`` maps each entity seen to
    its window-state row after the batch.
    """

    scores: list[tuple[bytes, bytes]] = field(default_factory=list)
    score_batches: list[bytes] = field(default_factory=list)
    features: list[bytes] = field(default_factory=list)
    dead_letters: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    state_rows: dict[str, bytes] = field(default_factory=dict)


@dataclass(slots=True)
class BatchStats:
    """What a batch did, for the metrics (gathered per batch, never per event).

    ``stage_seconds`` is wall time per stage (parse, featurise, score, encode); ``scores`` maps
    a served model to its published scores; ``models`` lists ``(task, version, role)`` of the
    models that scored (role champion or shadow); ``fallbacks`` counts results per
    ``(task, served_by)`` that a fallback served; ``dead_letters`` counts per
    ``(stage, reason class)``; ``not_scored`` counts events per ``(task, entity kind)`` that a
    champion did not score because it does not score their entity kind (by design, not lost).
    """

    stage_seconds: dict[str, float] = field(default_factory=dict)
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    models: list[tuple[str, str, str]] = field(default_factory=list)
    fallbacks: Counter = field(default_factory=Counter)
    dead_letters: Counter = field(default_factory=Counter)
    not_scored: Counter = field(default_factory=Counter)


@dataclass(slots=True)
class BatchOutput:
    """Everything a batch produces, per source partition, plus counts.

    Every source record ends up in exactly one of: events that went through featurising and
    scoring (counted in ``scored_records``; each event scored by every model that scores its
    entity kind), or one dead letter.
    """

    partitions: dict[int, PartitionOutput] = field(default_factory=dict)
    events: int = 0
    scored_records: int = 0
    stats: BatchStats = field(default_factory=BatchStats)

    def part(self, partition: int) -> PartitionOutput:
        out = self.partitions.get(partition)
        if out is None:
            out = self.partitions[partition] = PartitionOutput()
        return out

    @property
    def dead_letters(self) -> list[tuple[bytes | None, bytes]]:
        return [d for p in self.partitions.values() for d in p.dead_letters]

    @property
    def scores(self) -> list[tuple[bytes, bytes]]:
        return [s for p in self.partitions.values() for s in p.scores]

    @property
    def state_rows(self) -> dict[str, bytes]:
        return {e: r for p in self.partitions.values() for e, r in p.state_rows.items()}
