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
   (:func:`streams.etl.dead_letter_of`, which builds every dead letter) carrying the
   record's original bytes, key, origin, stage and reason (a value above
   ``dead_letter_max_value_bytes`` as its first bytes, length and SHA-256: see
   :func:`schemas.cap_dead_letter`; the dead-letter record is keyed by the capped key).
2. Load the window state of the batch's entities from the state store, run the fitted feature
   pipeline once over all events in arrival order, and hand back the updated state rows (per
   partition, for the caller to write and changelog).
3. Call each model of the model set once on the rows of the entity kinds it declares (one
   vectorised mask per batch, :func:`streams.scoring.kind_rows`: churn and upsell
   score users, not hosts): champions and shadow challengers; a model that fails falls back
   inside the model set (``ScoreResult.fallback``). Events of other kinds are featurised, kept
   in the window state and the snapshots (null score) like the others, and counted per model
   as not scored (``BatchStats.not_scored``), never as lost.
4. Encode, per partition, one ``ScoreResult`` per event and champion that scores its kind
   (unless ``score_results`` is off: bulk deployments read the same results from the
   ``ScoreBatch`` columns),
   ``ScoreBatch``es per champion and feature snapshots (what the models saw, for retraining) of
   at most :data:`BULK_ROWS` events each, for the events that the ``snapshots`` policy picks
   (:mod:`streams.pipeline.snapshots`; every event by default). Shadow scores are counted,
   never published.

Each stage's wall time, the published scores, the models that served and the dead letters'
reason classes are noted in ``BatchOutput.stats`` for the worker's metrics (a few clock reads
per batch).

An exception in step 2, 3 or 4 drops the batch's partial results and turns every record that
had events into a dead letter: stage ``score`` when the models failed, ``featurise`` otherwise
(encoding included), as the :class:`~streams.errors.StageError` raised where it failed says;
it never raises out of :meth:`process`, and no record is left without an outcome.

Cost: the work is per batch (Arrow, NumPy, Numba, one model call); what is left per record is
what Kafka needs per record (a key and a value per ``ScoreResult``) and a dict access per
distinct entity for the window state. ``tests/benchmarks/bench_processor.py`` measures it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas import (
    DeadLetterStage,
    ScoreColumns,
    encode_dead_letter,
    encode_score_batch,
    encode_score_results,
)
from schemas.deadletter import DEFAULT_MAX_VALUE_BYTES
from schemas.events import ENTITY_KINDS, entity_kind_codes
from streams.errors import StageError
from streams.etl import (
    InputFormat,
    ParsedBatch,
    Rejected,
    TopicKind,
    TopicOrigin,
    dead_letter_of,
    parse_batch,
)
from streams.metrics import reason_class
from streams.pipeline.records import BatchOutput, SourceRecords
from streams.pipeline.snapshots import SnapshotPolicy
from streams.scoring import ModelSet

__all__ = ["BatchProcessor", "StateStore", "records_from_values"]

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

    ``models`` is the set of models that score the events of their entity kinds (their feature
    pipeline included);
    ``topic_kind`` is what the records' topic takes (``streams.etl.topic_kind_of(key)``): a
    record of another kind is a dead letter that says what the topic takes.
    ``hosts_from_keys`` takes each record's key as the host of log lines that name none (dpkg,
    apt): set it for the raw-logs topic, whose records are keyed by host. ``clock_ms`` gives
    the scoring time (injected in tests). ``dead_letter_max_value_bytes`` is the longest value
    a dead letter keeps whole (``Settings.dead_letter_max_value_bytes``).
    the scoring time (injected in tests). ``score_results`` (``Settings.score_results``) says
    whether per-event ``ScoreResult`` records are produced; ``snapshots``
    (``Settings.snapshots``: ``all``, ``none`` or ``sample:<fraction>``) which events get a
    feature-snapshot row. The defaults produce every output.
    """

    models: ModelSet
    input_format: InputFormat = InputFormat.AUTO
    hosts_from_keys: bool = False
    clock_ms: Callable[[], int] = _now_ms
    dead_letter_max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES
    topic_kind: TopicKind = TopicKind.ANY
    score_results: bool = True
    snapshots: SnapshotPolicy | str = "all"

    def __post_init__(self) -> None:
        self.snapshots = SnapshotPolicy.parse(self.snapshots)

    def process(self, records: SourceRecords, state: StateStore) -> BatchOutput:
        out = BatchOutput()
        if not len(records):
            return out
        stats = out.stats
        started = time.perf_counter()
        hosts = None
        if self.hosts_from_keys:  # raw-logs records are keyed by host
            hosts = [None if k is None else k.decode("utf-8", "replace") for k in records.keys]
        parsed = parse_batch(
            records.values, self.input_format, _Origins(records), hosts=hosts, kind=self.topic_kind
        )
        if parsed.rejected:
            # One rejection per record without events, in record order (parse_batch's contract).
            rejected = np.ones(len(records), dtype=bool)
            rejected[parsed.source_index] = False
            for i, rej in zip(np.flatnonzero(rejected).tolist(), parsed.rejected, strict=True):
                self._dead_letter(records, i, rej, out)
        stats.stage_seconds["parse"] = time.perf_counter() - started
        if parsed.events.num_rows:
            try:
                self._featurise_and_score(records, parsed, state, out)
            except StageError as exc:
                self._reject_parsed(records, parsed, exc, out)
            except Exception as exc:  # encoding, after the models: no stage of its own
                failed = _batch_failed(DeadLetterStage.FEATURISE, parsed, exc)
                self._reject_parsed(records, parsed, failed, out)
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
            kinds = entity_kind_codes(events)
            scored = self.models.score(features.X, kinds)
            encoding = clock()
        except Exception as exc:
            raise _batch_failed(stage, parsed, exc) from exc
        batch = features.batch  # one row per event: the serving spec has no filter step
        n = len(batch)
        now = self.clock_ms()
        event_id, entity = _large_text(batch.event_id), _large_text(batch.entity)
        # Records are grouped by partition and events keep record order, so each partition's
        # events are one contiguous run of rows.
        event_partition = records.partitions[parsed.source_index]
        cuts = (np.flatnonzero(np.diff(event_partition)) + 1).tolist()
        runs = list(zip([0, *cuts], [*cuts, n], strict=True))
        # A model scores the rows of its entity kinds (``result.rows``; None: all): each
        # distinct row selection is taken once (churn and upsell share theirs).
        starts = np.asarray([*(a for a, _ in runs), n], np.int64)
        subsets: dict[int, _Rows] = {}
        columns: list[tuple[ScoreColumns, _Rows]] = []
        for result in scored:
            if result.shadow:
                continue
            key = -1 if result.rows is None else id(result.rows)
            sub = subsets.get(key)
            if sub is None:
                sub = subsets[key] = _Rows.of(result.rows, event_id, entity, batch.ts_ms, starts)
            m = len(sub)
            col = ScoreColumns(
                model_name=result.model_name,
                model_version=result.model_version,
                event_id=sub.event_id,
                entity=sub.entity,
                score=result.scores,
                decision=result.scores >= result.threshold,
                fallback=result.fallback,
                served_by=_served_by(result.served_by, m),
                event_time_ms=sub.ts_ms,
                scored_time_ms=np.full(m, now, np.int64),
            )
            columns.append((col, sub))
        if self.score_results:
            results = [(encode_score_results(col), sub) for col, sub in columns if len(sub)]
        snap_rows = self.snapshots.rows(batch.event_id)
        for k, (a, b) in enumerate(runs):
            part = out.part(int(event_partition[a]))
            if self.score_results:
                for messages, sub in results:
                    lo, hi = sub.bounds[k], sub.bounds[k + 1]
                    part.scores.extend(zip(sub.keys[lo:hi], messages[lo:hi], strict=True))
            for col, sub in columns:
                stop = sub.bounds[k + 1]
                for lo in range(sub.bounds[k], stop, BULK_ROWS):
                    part.score_batches.append(
                        encode_score_batch(col.slice(lo, min(stop, lo + BULK_ROWS)))
                    )
            if snap_rows is None:
                for lo in range(a, b, BULK_ROWS):
                    hi = min(b, lo + BULK_ROWS)
                    part.features.append(self.models.snapshot(features, scored, now, lo, hi))
            else:
                picked = snap_rows[np.searchsorted(snap_rows, a) : np.searchsorted(snap_rows, b)]
                for lo in range(0, len(picked), BULK_ROWS):
                    rows = picked[lo : lo + BULK_ROWS]
                    part.features.append(self.models.snapshot(features, scored, now, rows=rows))
        self._route_state_rows(features.state_rows, entity, event_partition, runs, out)
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
            if result.rows is not None:  # events of kinds it does not score: by design
                stats.not_scored.update(_kind_counts(kinds, result.rows, result.model_name))
            if result.fallback.any():  # one fallback level serves a whole batch: few labels
                served = np.asarray(result.served_by, dtype=object)[result.fallback]
                stats.fallbacks.update(
                    {(result.model_name, s): n for s, n in Counter(served.tolist()).items()}
                )

    @staticmethod
    def _route_state_rows(
        rows: dict[str, bytes],
        entity: pa.Array,
        event_partition: np.ndarray,
        runs: list[tuple[int, int]],
        out: BatchOutput,
    ) -> None:
        """Each entity's row goes to the partition of its last event in the batch."""
        if not rows:
            return
        if len(runs) == 1:  # one partition (the usual batch of one partition's records)
            out.part(int(event_partition[0])).state_rows.update(rows)
            return
        codes = pc.dictionary_encode(entity)
        index = codes.indices.to_numpy(zero_copy_only=False)
        last = np.zeros(len(codes.dictionary), dtype=np.int64)
        np.maximum.at(last, index, np.arange(len(index), dtype=np.int64))
        partitions = event_partition[last].tolist()
        for name, partition in zip(codes.dictionary.to_pylist(), partitions, strict=True):
            out.part(partition).state_rows[name] = rows[name]

    def _reject_parsed(
        self, records: SourceRecords, parsed: ParsedBatch, exc: StageError, out: BatchOutput
    ) -> None:
        for part in out.partitions.values():  # drop any partial results of this batch
            part.scores.clear()
            part.score_batches.clear()
            part.features.clear()
            part.state_rows.clear()
        out.events = out.scored_records = 0
        out.stats.scores.clear()
        out.stats.models.clear()
        out.stats.fallbacks.clear()
        out.stats.not_scored.clear()
        origins = _Origins(records)
        for i in np.unique(parsed.source_index).tolist():
            self._dead_letter(records, i, Rejected.of(records.values[i], origins[i], exc), out)

    def _dead_letter(
        self, records: SourceRecords, i: int, rejected: Rejected, out: BatchOutput
    ) -> None:
        """Queue the dead letter of record ``i`` (built by :func:`dead_letter_of`, capped: its
        key keys the dead-letter record too) in its partition, and count it."""
        cap = self.dead_letter_max_value_bytes
        letter = dead_letter_of(
            rejected,
            key=records.keys[i],
            record_time_ms=int(records.timestamps_ms[i]),
            dead_time_ms=self.clock_ms(),
            tombstone=records.values[i] is None,
            max_value_bytes=cap,
        )
        encoded = encode_dead_letter(letter, max_value_bytes=cap)
        out.part(int(records.partitions[i])).dead_letters.append((letter.key, encoded))
        out.stats.dead_letters[(rejected.stage.label, reason_class(rejected.reason))] += 1


class _Origins(Sequence[TopicOrigin]):
    """The records' origins for :func:`parse_batch`, made only for the records it rejects."""

    __slots__ = ("_records",)

    def __init__(self, records: SourceRecords) -> None:
        self._records = records

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        r = self._records
        return TopicOrigin(r.topic, int(r.partitions[i]), int(r.offsets[i]))


@dataclass(slots=True)
class _Rows:
    """The batch rows a model scored (all, or those of its entity kinds), as the encoders take
    them: ids, entities, event times, and ``bounds[k]:bounds[k + 1]``, the slice of them that
    belongs to the ``k``-th partition run of the batch."""

    event_id: pa.Array
    entity: pa.Array
    ts_ms: np.ndarray
    bounds: list[int]
    _keys: list[bytes] | None = None

    @classmethod
    def of(cls, rows, event_id, entity, ts_ms, starts: np.ndarray) -> _Rows:
        if rows is None:
            return cls(event_id, entity, ts_ms, starts.tolist())
        take = pa.array(rows, pa.int64())
        bounds = np.searchsorted(rows, starts).tolist()
        return cls(event_id.take(take), entity.take(take), ts_ms[rows], bounds)

    def __len__(self) -> int:
        return len(self.event_id)

    @property
    def keys(self) -> list[bytes]:
        """The rows' Kafka keys (their entities' bytes), made by Arrow once."""
        if self._keys is None:
            self._keys = _utf8_values(self.entity)
        return self._keys


def _kind_counts(kinds: np.ndarray, rows: np.ndarray, model: str) -> dict[tuple[str, str], int]:
    """``(model, entity kind) -> events`` of the batch rows (kind codes ``kinds``) not in
    ``rows``: what ``model`` did not score because it does not score their kind."""
    left = np.bincount(kinds, minlength=len(ENTITY_KINDS))
    left -= np.bincount(kinds[rows], minlength=len(ENTITY_KINDS))
    return {(model, str(ENTITY_KINDS[c])): int(k) for c, k in enumerate(left.tolist()) if k}


def _batch_failed(stage: DeadLetterStage, parsed: ParsedBatch, exc: Exception) -> StageError:
    """The typed error of a batch that ``stage`` could not handle: each of its records becomes
    a dead letter of that stage, with this reason."""
    return StageError(
        f"{stage.label} of a batch of {parsed.events.num_rows} events failed: "
        f"{type(exc).__name__}: {exc}",
        stage=stage,
    )


def _large_text(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A string column as one large_string array: the score codecs then slice it for free."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values if pa.types.is_large_string(values.type) else values.cast(pa.large_string())


def _served_by(values: Sequence[str], n: int) -> pa.Array | Sequence[str]:
    """``served_by`` as Arrow; a batch served by one model (the usual case) without a per-event
    Python pass: the same name repeated is built from the name's bytes with NumPy."""
    if n and isinstance(values, list) and values.count(values[0]) == n:
        raw = values[0].encode("utf-8")
        offsets = np.arange(n + 1, dtype=np.int64) * len(raw)
        data = np.frombuffer(raw * n, dtype=np.uint8) if raw else np.zeros(0, np.uint8)
        return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
    return values


def _utf8_values(values: pa.Array) -> list[bytes]:
    """Each string of a string array as ``bytes`` (the records' Kafka keys), made by Arrow."""
    return values.cast(pa.large_binary()).to_pylist()


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
