"""One micro-batch through parse -> featurise -> score -> encode, with no Kafka in sight.

The scoring loop (:mod:`streams.pipeline.loop`) calls :meth:`BatchProcessor.process` once per
input topic of each batch it consumes (records of any of the partitions it owns, grouped by
partition) and queues what it returns partition by partition in its open transaction:
everything made from input partition *p* goes to partition *p* of its output topic. The offline
path calls the same method on records read from
files (:func:`records_from_values`), so the two paths share every step. The order inside a
batch:

1. Parse and validate every record (:func:`streams.etl.parse_batch`; on the raw-logs topic a
   record's key is the host of lines that name none); each rejection becomes a dead letter
   carrying the record's original bytes, key, origin, stage and reason (a value above
   ``dead_letter_max_value_bytes`` as its first bytes, length and SHA-256: see
   :func:`schemas.cap_dead_letter`; the dead-letter record is keyed by the capped key).
2. Load the window state of the batch's entities from the state store, run the fitted feature
   pipeline once over all events in arrival order, and hand back the updated state rows (per
   partition, for the caller to write and changelog).
3. Call each model of the model set once on the whole feature matrix: champions and shadow
   challengers; a model that fails falls back inside the model set (``ScoreResult.fallback``).
4. Encode, per partition, one ``ScoreResult`` per event and champion, ``ScoreBatch``es per
   champion and feature snapshots (what the models saw, for retraining) of at most
   :data:`BULK_ROWS` events each. Shadow scores are counted, never published.

Each stage's wall time, the published scores, the models that served and the dead letters'
reason classes are noted in ``BatchOutput.stats`` for the worker's metrics (a few clock reads
per batch).

An exception in step 2, 3 or 4 drops the batch's partial results and turns every record that
had events into a dead letter: stage ``score`` when the models failed, ``featurise`` otherwise
(encoding included); it never raises out of :meth:`process`, and no record is left without an
outcome.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from schemas import (
    DeadLetter,
    DeadLetterStage,
    ScoreColumns,
    cap_dead_letter,
    encode_dead_letter,
    encode_score_batch,
    encode_score_results,
)
from schemas.deadletter import DEFAULT_MAX_VALUE_BYTES
from streams.etl import InputFormat, ParsedBatch, TopicKind, TopicOrigin, parse_batch
from streams.metrics import reason_class
from streams.pipeline.records import BatchOutput, SourceRecords
from streams.pipeline.scoring import ModelSet

__all__ = ["BatchProcessor", "StateStore", "records_from_values"]

_STAGE_OF = {"parse": DeadLetterStage.PARSE, "validate": DeadLetterStage.VALIDATE}

BULK_ROWS = 2048
"""Most events per ScoreBatch or feature-snapshot record: 2048 x ~200 float32 features stay
well under the bulk topics' record size limit."""

StateStore = Mapping[str, bytes]
"""Per-entity window-state rows (read side); the caller writes back ``BatchOutput.state_rows``."""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class BatchProcessor:
    """Turns :class:`SourceRecords` into a :class:`BatchOutput` (see the module docstring).

    ``models`` is the set of models that score every event (their feature pipeline included);
    ``topic_kind`` is what the records' topic takes (``streams.etl.topic_kind_of(key)``): a
    record of another kind is a dead letter that says what the topic takes.
    ``hosts_from_keys`` takes each record's key as the host of log lines that name none (dpkg,
    apt): set it for the raw-logs topic, whose records are keyed by host. ``clock_ms`` gives
    the scoring time (injected in tests). ``dead_letter_max_value_bytes`` is the longest value
    a dead letter keeps whole (``Settings.dead_letter_max_value_bytes``).
    """

    models: ModelSet
    input_format: InputFormat = InputFormat.AUTO
    hosts_from_keys: bool = False
    clock_ms: Callable[[], int] = _now_ms
    dead_letter_max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES
    topic_kind: TopicKind = TopicKind.ANY

    def process(self, records: SourceRecords, state: StateStore) -> BatchOutput:
        out = BatchOutput()
        if not len(records):
            return out
        origins = [
            TopicOrigin(records.topic, int(p), int(o))
            for p, o in zip(records.partitions, records.offsets, strict=True)
        ]
        stats = out.stats
        started = time.perf_counter()
        hosts = None
        if self.hosts_from_keys:  # raw-logs records are keyed by host
            hosts = [None if k is None else k.decode("utf-8", "replace") for k in records.keys]
        parsed = parse_batch(
            records.values, self.input_format, origins, hosts=hosts, kind=self.topic_kind
        )
        if parsed.rejected:
            index_of = {
                (int(p), int(o)): i
                for i, (p, o) in enumerate(zip(records.partitions, records.offsets, strict=True))
            }
            for rej in parsed.rejected:
                i = index_of[(rej.origin.partition, rej.origin.offset)]  # type: ignore[union-attr]
                stage = _STAGE_OF.get(rej.stage, DeadLetterStage.PARSE)
                self._dead_letter(records, i, stage, rej.reason, out)
        stats.stage_seconds["parse"] = time.perf_counter() - started
        if parsed.events.num_rows:
            try:
                self._featurise_and_score(records, parsed, state, out)
            except Exception as exc:  # noqa: BLE001 - a bad batch is data, never a crash
                self._reject_parsed(records, parsed, exc, out)
        return out

    # --- stages --------------------------------------------------------------------------

    def _featurise_and_score(
        self, records: SourceRecords, parsed: ParsedBatch, state: StateStore, out: BatchOutput
    ) -> None:
        events = parsed.events
        stage = DeadLetterStage.FEATURISE
        clock = time.perf_counter
        try:
            started = clock()
            features = self.models.featurise(events, state)
            stage = DeadLetterStage.SCORE
            featurised = clock()
            scored = self.models.score(features.X)
            encoding = clock()
        except Exception as exc:
            exc.add_note(f"stage={stage.name.lower()}")
            raise
        batch = features.batch  # one row per event: the serving spec has no filter step
        now = self.clock_ms()
        columns = [
            ScoreColumns(
                model_name=result.model_name,
                model_version=result.model_version,
                event_id=batch.event_id,
                entity=batch.entity,
                score=result.scores,
                decision=result.scores >= result.threshold,
                fallback=result.fallback,
                served_by=result.served_by,
                event_time_ms=batch.ts_ms,
                scored_time_ms=np.full(len(batch), now, np.int64),
            )
            for result in scored
            if not result.shadow
        ]
        keys = [e.encode() for e in batch.entity.to_pylist()]
        # Records are grouped by partition and events keep record order, so each partition's
        # events are one contiguous run of rows.
        event_partition = records.partitions[parsed.source_index]
        cuts = np.flatnonzero(np.diff(event_partition)) + 1
        bounds = zip(np.r_[0, cuts].tolist(), np.r_[cuts, len(batch)].tolist(), strict=True)
        entity_partition: dict[str, int] = {}
        for a, b in bounds:
            partition = int(event_partition[a])
            part = out.part(partition)
            for col in columns:
                sliced = col.slice(a, b)
                part.scores.extend(zip(keys[a:b], encode_score_results(sliced), strict=True))
            for lo in range(a, b, BULK_ROWS):
                hi = min(b, lo + BULK_ROWS)
                part.score_batches.extend(encode_score_batch(col.slice(lo, hi)) for col in columns)
                part.features.append(self.models.snapshot(features, scored, now, lo, hi))
            for key in keys[a:b]:
                entity_partition[key.decode()] = partition
        for entity, row in features.state_rows.items():
            out.part(entity_partition[entity]).state_rows[entity] = row
        out.events += events.num_rows
        out.scored_records += int(np.unique(parsed.source_index).size)
        stats = out.stats
        stats.stage_seconds.update(
            featurise=featurised - started, score=encoding - featurised, encode=clock() - encoding
        )
        for result in scored:
            role = "shadow" if result.shadow else "champion"
            stats.models.append((result.model_name, result.model_version, role))
            if result.shadow:
                continue
            stats.scores[result.model_name] = result.scores
            if result.fallback.any():  # one fallback level serves a whole batch: few labels
                served = np.asarray(result.served_by, dtype=object)[result.fallback]
                stats.fallbacks.update(
                    {(result.model_name, s): n for s, n in Counter(served.tolist()).items()}
                )

    def _reject_parsed(
        self, records: SourceRecords, parsed: ParsedBatch, exc: Exception, out: BatchOutput
    ) -> None:
        notes = getattr(exc, "__notes__", [])
        stage = DeadLetterStage.SCORE if "stage=score" in notes else DeadLetterStage.FEATURISE
        reason = (
            f"{stage.name.lower()} of a batch of {parsed.events.num_rows} events failed: "
            f"{type(exc).__name__}: {exc}"
        )
        for part in out.partitions.values():  # drop any partial results of this batch
            part.scores.clear()
            part.score_batches.clear()
            part.features.clear()
            part.state_rows.clear()
        out.events = out.scored_records = 0
        out.stats.scores.clear()
        out.stats.models.clear()
        out.stats.fallbacks.clear()
        for i in np.unique(parsed.source_index):
            self._dead_letter(records, int(i), stage, reason, out)

    def _dead_letter(
        self,
        records: SourceRecords,
        i: int,
        stage: DeadLetterStage,
        reason: str,
        out: BatchOutput,
    ) -> None:
        partition = int(records.partitions[i])
        letter = DeadLetter(
            value=records.values[i],
            key=records.keys[i],
            source_topic=records.topic,
            source_partition=partition,
            source_offset=int(records.offsets[i]),
            stage=stage,
            reason=reason,
            record_time_ms=int(records.timestamps_ms[i]),
            dead_time_ms=self.clock_ms(),
        )
        cap = self.dead_letter_max_value_bytes
        letter = cap_dead_letter(letter, cap)  # what is encoded; its key keys the record too
        encoded = encode_dead_letter(letter, max_value_bytes=cap)
        out.part(partition).dead_letters.append((letter.key, encoded))
        out.stats.dead_letters[(stage.name.lower(), reason_class(reason))] += 1


def records_from_values(
    topic: str, values: Sequence[bytes], keys: Sequence[bytes | None] | None = None
) -> SourceRecords:
    """Records for the offline path: partition -1, offsets 0..n-1, no timestamps."""
    n = len(values)
    return SourceRecords(
        topic,
        np.full(n, -1, np.int32),
        np.arange(n, dtype=np.int64),
        list(keys) if keys is not None else [None] * n,
        list(values),
        np.full(n, -1, np.int64),
    )
