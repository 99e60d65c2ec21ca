"""The Faust application: agents that read input partitions in micro-batches and publish scores.

Exactly-once: faust-streaming keeps one transactional producer per assigned input partition and
commits that partition's consumed offsets in its transaction. Every record a batch of input
partition ``p`` produces (scores, score batches, feature snapshots, dead letters, window-state
changelog) is written by that same producer (see ``_record_producer``), so results, state and
offsets commit or abort together. Faust's own ``TransactionManager.send`` picks a producer by
the *destination* partition and, for a topic the worker does not consume, silently falls back to
the plain producer; it is not used for results.

At a rebalance, every open transaction is committed with the offsets of the results it holds
before the partitions move (Faust itself would keep a kept partition's transaction open while
its consumer goes back to the committed offset), and events at or below what was already
queued for a partition are not scored again (see ``_not_yet_queued``).

Every result also goes to partition ``p`` of its topic, all pipeline topics have the same
partition count, and inputs are keyed by entity (user id, or host for logs): an entity's window
state, its changelog and its results live on one partition number, which a rebalance moves as
a whole.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Sequence

import faust
import numpy as np
from faust.streams import _current_event  # private: see _publish

from streams.etl import topic_kind_of
from streams.kafka import resolve_bootstrap
from streams.learning import ModelEventFollower, ModelHolder, add_learning
from streams.pipeline import faust_fixes, telemetry
from streams.pipeline.batching import take_ready
from streams.pipeline.processor import BatchProcessor
from streams.pipeline.records import PartitionOutput, SourceRecords
from streams.pipeline.scoring import ModelSet
from streams.settings import Settings
from streams.topics import TOPICS, topic_name
from streams.web.auth import worker_web_options

__all__ = ["INPUT_ROLES", "create_app"]

_log = logging.getLogger(__name__)

INPUT_ROLES: dict[str, str] = {"activity": "activity", "logs": "raw-logs"}
"""Worker role -> the input topic (logical key) its agent consumes."""

TABLE_NAME = "entity-windows"


def create_app(
    settings: Settings,
    roles: Sequence[str] = tuple(INPUT_ROLES),
    models: Sequence[str] | None = None,
    model_set: ModelSet | None = None,
) -> faust.App:
    """A Faust app whose agents consume the ``roles``' input topics and score with ``models``.

    Workers with the same roles and models form one consumer group and share the partitions;
    a different model subset is a different group, so one model can run on its own workers.
    ``model_set`` is loaded from the registry at worker start-up when not given.
    """
    unknown = set(roles) - set(INPUT_ROLES)
    if unknown:
        raise ValueError(f"unknown worker role(s) {sorted(unknown)}; expected {list(INPUT_ROLES)}")
    faust_fixes.install()
    model_key = "-".join(sorted(models)) if models else "all"
    app_id = f"{settings.topic_prefix}worker.{'-'.join(sorted(roles))}.{model_key}"
    bootstrap = resolve_bootstrap(settings)
    datadir = (settings.state_dir / "faust").resolve()
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        app_id,
        broker=";".join(f"kafka://{server}" for server in bootstrap.split(",")),
        store="rocksdb://" if settings.table_store == "rocksdb" else "memory://",
        processing_guarantee=settings.processing_guarantee,
        topic_partitions=TOPICS["activity"].partitions,
        topic_replication_factor=1,
        topic_allow_declare=True,
        datadir=str(datadir),
        broker_commit_interval=settings.commit_interval_s,
        stream_buffer_maxsize=max(4096, 2 * settings.batch_max),
        web_enabled=settings.web_port > 0,
        web_port=settings.web_port or 6066,
        web_bind=settings.web_host,
        web_host="127.0.0.1",
        consumer_auto_offset_reset="earliest",
        producer_linger_ms=5,  # a micro-batch's sends leave in a few large produce requests
        producer_max_batch_size=262_144,
        producer_max_request_size=16 * 1024 * 1024,  # the bulk topics' record limit
        broker_session_timeout=10.0,  # a killed worker's partitions move on after 10 s
        broker_heartbeat_interval=2.0,
        # No standby replicas: a new owner rebuilds a partition's window state from its
        # changelog. (Standbys + exactly-once crashed recovery in faust-streaming 0.15.)
        table_standby_replicas=0,
        **worker_web_options(settings),  # the web token on every route; no /table, /router
    )
    table = app.Table(
        TABLE_NAME,
        default=None,
        partitions=TOPICS["activity"].partitions,
        key_type=bytes,
        value_type=bytes,  # raw bytes: entity name, float64 state row
    )
    outputs = {
        key: app.topic(
            topic_name(settings, key), key_serializer="raw", value_serializer="raw"
        ).get_topic_name()
        for key in ("scores", "score-batches", "features", "dead-letters")
    }
    outputs["changelog"] = table.changelog_topic.get_topic_name()
    store = _WindowStore(table)
    ready_offsets: dict = {}  # input TP -> next offset whose results are queued (exactly-once)
    committed_offsets: dict = {}  # input TP -> the ready offset last committed with its results
    # Hot swap (streams.learning): the agents ask the holder for the model set at the start of
    # each batch; a follower thread applies model events and makes the holder swap between
    # batches. The first load waits until model-events was read to its end.
    holder = ModelHolder(settings, models, model_set)
    follower = ModelEventFollower(settings, bootstrap, holder)
    current_models = holder.get

    @app.task
    async def _load_models_at_start() -> None:
        # aiokafka logs every produce request at DEBUG; building those records costs more
        # than the sends themselves on a busy worker.
        logging.getLogger("aiokafka").setLevel(logging.WARNING)
        if app.in_transaction:
            driver = (await app.maybe_start_producer()).producer
            _commit_what_was_sent(app, driver, ready_offsets, committed_offsets)
        follower.start(asyncio.get_running_loop())
        await current_models()  # load and warm up before the first event, not on it

    add_learning(app, settings, models, holder, follower)

    @app.on_partitions_revoked.connect
    async def _commit_before_revoke(sender, revoked, **kwargs) -> None:  # noqa: ANN001
        # Faust commits and ends the transactions at a revoke only when its consumer still
        # has an assignment; whatever was scored must be committed with its offsets before
        # the consumer goes back to the committed offsets.
        if app.in_transaction and ready_offsets:
            driver = (await app.maybe_start_producer()).producer
            _commit_what_was_sent(app, driver, ready_offsets, committed_offsets)  # idempotent
            await driver.commit_transactions({}, app.conf.id, start_new_transaction=False)
        for tp in revoked:
            ready_offsets.pop(tp, None)
            committed_offsets.pop(tp, None)
        store.clear_cache()

    for role in roles:
        source = app.topic(
            topic_name(settings, INPUT_ROLES[role]), key_serializer="raw", value_serializer="raw"
        )
        _add_agent(app, role, source, store, outputs, current_models, settings, ready_offsets)
    telemetry.install(app, settings, [topic_name(settings, INPUT_ROLES[r]) for r in roles])
    return app


def _add_agent(app, role, source, store, outputs, current_models, settings, ready_offsets) -> None:  # noqa: ANN001
    exactly_once = settings.processing_guarantee == "exactly_once"
    hosts_from_keys = INPUT_ROLES[role] == "raw-logs"

    def on_sent(future: asyncio.Future) -> None:
        if not future.cancelled() and future.exception() is not None:
            app.log.error("producing a result failed: %r; restarting", future.exception())
            asyncio.ensure_future(app.crash(future.exception()))

    def batches(stream: faust.StreamT):  # noqa: ANN202
        if settings.batching == "window":
            return stream.take_events(settings.batch_max, within=settings.batch_within_s)
        return take_ready(stream, settings.batch_max, settings.batch_within_s)

    async def agent(stream: faust.StreamT) -> None:
        async for events in batches(stream):
            proc = BatchProcessor(await current_models(), hosts_from_keys=hosts_from_keys,
                                  topic_kind=topic_kind_of(INPUT_ROLES[role]))
            fresh = _not_yet_queued(events, ready_offsets)
            if not fresh:
                continue
            records, last_event = _to_records(fresh)
            out = proc.process(records, store)
            publishing = time.perf_counter()
            pending = []
            for partition, part in out.partitions.items():
                pending += await _publish(
                    app, outputs, store, part, partition, last_event[partition], ready_offsets
                )
            telemetry.record_batch(role, records, out, outputs, time.perf_counter() - publishing)
            if exactly_once:
                # The transaction's commit flushes these; a send that fails must abort it, which
                # crashing the worker does (the batch is then read and scored again).
                for future in pending:
                    future.add_done_callback(on_sent)
            else:
                # At-least-once: offsets are committed once the loop moves on, so every result
                # must be in Kafka first.
                await asyncio.gather(*pending)

    agent.__name__ = f"score_{role}"
    app.agent(source, name=f"score-{role}")(agent)


def _not_yet_queued(events: Sequence[faust.EventT], ready_offsets: dict) -> list[faust.EventT]:
    """The events of a batch whose results this worker has not queued yet, in offset order.

    A rebalance makes the consumer read each kept partition again from its committed offset,
    while the agent may still hold events of the same partition taken before it: an offset
    below the partition's ready offset, or not above one already in the batch, was or will be
    scored in this run and is dropped. ``ready_offsets`` loses a partition when it is revoked.
    """
    floor: dict = {}
    fresh = []
    for event in events:
        message = event.message
        tp = message.tp
        low = floor.get(tp)
        if low is None:
            low = ready_offsets.get(tp, 0)
        if message.offset >= low:
            fresh.append(event)
            floor[tp] = message.offset + 1
    return fresh


def _to_records(
    events: Sequence[faust.EventT],
) -> tuple[SourceRecords, dict[int, faust.EventT]]:
    """One batch of records grouped by partition (a stable sort keeps offset order), and the
    last event of each partition."""
    partitions = np.fromiter((e.message.partition for e in events), np.int32, len(events))
    order = np.argsort(partitions, kind="stable")
    messages = [events[i].message for i in order.tolist()]
    last = {e.message.partition: e for e in events}
    records = SourceRecords(
        topic=messages[0].topic,
        partitions=partitions[order],
        offsets=np.fromiter((m.offset for m in messages), np.int64, len(messages)),
        keys=[m.key for m in messages],
        values=[m.value for m in messages],
        timestamps_ms=np.fromiter(
            (int(m.timestamp * 1000) if m.timestamp else -1 for m in messages),
            np.int64,
            len(messages),
        ),
    )
    return records, last


class _WindowStore:
    """The window-state table in the shape the processor wants, with an in-process cache.

    Faust's table lookups cost more than the featurising of an event (the RocksDB store
    probes each partition's database when no current event names one), so rows read or
    written here are kept in a dict. Only this worker writes the partitions it owns; the cache
    is emptied whenever partitions are revoked (before recovery can change the table).
    """

    __slots__ = ("_cache", "_table")

    MAX_CACHED = 1_000_000

    def __init__(self, table: faust.Table) -> None:
        self._table = table
        self._cache: dict[str, bytes] = {}

    def get(self, entity: str, default: bytes | None = None) -> bytes | None:
        value = self._cache.get(entity)
        if value is None:
            value = self._table.get(entity.encode())
            if value is None:
                return default
            self._cache[entity] = value
        return value

    def __getitem__(self, entity: str) -> bytes:
        value = self.get(entity)
        if value is None:
            raise KeyError(entity)
        return value

    def put(self, rows: dict[str, bytes], event: faust.EventT) -> list[tuple[bytes, bytes]]:
        """Store ``rows`` (entity -> state row) in the table and the cache; the changelog
        records for them. ``event`` is one of the batch's events of the rows' partition."""
        if len(self._cache) > self.MAX_CACHED:
            self._cache.clear()
        self._cache.update(rows)
        records = [(entity.encode(), row) for entity, row in rows.items()]
        # The RocksDB store picks its partition database from the current event, which
        # take_events does not set.
        token = _current_event.set(weakref.ref(event))
        try:
            data = self._table.data
            for k, v in records:
                data[k] = v
        finally:
            _current_event.reset(token)
        return records

    def clear_cache(self) -> None:
        self._cache.clear()


async def _publish(
    app: faust.App,
    outputs: dict[str, str],
    store: _WindowStore,
    out: PartitionOutput,
    partition: int,
    event: faust.EventT,
    ready_offsets: dict,
) -> list[asyncio.Future]:
    """Queue one partition's results, and its window-state rows, for the same partition number.

    State rows go into the table's store and straight onto its changelog through the same
    (transactional) producer as the scores, instead of through ``table[key] = value``: Faust's
    per-key changelog path costs more than the scoring of the event itself, and it needs a
    "current event" that ``take_events`` does not set (the RocksDB store picks its partition
    database from it, so we set it to ``event``, the partition's last). Recovery reads the same
    changelog. Everything goes through the input partition's own producer (see
    :func:`_record_producer`). Under exactly-once the producer's lock is held from the first
    send until the batch's offsets are recorded as ready for the transaction's next commit
    (see :func:`_commit_what_was_sent`). Returns the delivery futures.
    """
    producer, lock = await _record_producer(app, event.message.topic, partition)
    if producer is None:
        producer, lock = await _producer_when_assigned(app, event, partition)
    if producer is None:
        # Revoked while this batch was scored: its transaction is gone, and the partition's
        # next owner (maybe this worker again) reads it again from the committed offset.
        _log.warning(
            "partition %s was revoked mid-batch; its results are dropped", event.message.tp
        )
        return []
    if lock is None:
        return await _publish_records(producer, outputs, store, out, partition, event)
    async with lock:  # no commit of this transaction can fall between the sends and the mark
        futures = await _publish_records(producer, outputs, store, out, partition, event)
        ready_offsets[event.message.tp] = event.message.offset + 1
    return futures


async def _publish_records(
    producer,
    outputs: dict[str, str],
    store: _WindowStore,
    out: PartitionOutput,
    partition: int,
    event: faust.EventT,
) -> list[asyncio.Future]:  # noqa: ANN001
    futures: list[asyncio.Future] = []

    async def send_all(topic: str, pairs) -> None:  # noqa: ANN001
        batch = producer.create_batch()
        for k, v in pairs:
            if batch.append(key=k, value=v, timestamp=None) is None:  # full: send, go on
                futures.append(await _send_batch(producer, batch, topic, partition))
                batch = producer.create_batch()
                if batch.append(key=k, value=v, timestamp=None) is None:
                    raise ValueError(f"a {len(v)}-byte record does not fit a batch for {topic}")
        if batch.record_count():
            futures.append(await _send_batch(producer, batch, topic, partition))

    await send_all(outputs["dead-letters"], out.dead_letters)
    await send_all(outputs["scores"], out.scores)
    await send_all(outputs["score-batches"], ((None, v) for v in out.score_batches))
    await send_all(outputs["features"], ((None, v) for v in out.features))
    if out.state_rows:
        await send_all(outputs["changelog"], store.put(out.state_rows, event))
    return futures


async def _record_producer(app: faust.App, source: str, partition: int):  # noqa: ANN202
    """The aiokafka producer for the results of ``source``'s ``partition`` (and its lock).

    Under exactly-once that is the transactional producer Faust keeps for that input partition,
    the one whose transaction also commits the partition's consumed offsets: results, state
    changelog and offsets commit or abort together. (``TransactionManager.send`` would pick a
    producer by the destination topic, and for a topic the worker does not consume it falls
    back to the plain, non-transactional producer.) Records go in whole batches
    (``send_batch``), a fraction of the cost of one ``send`` per record.
    """
    producer = await app.maybe_start_producer()
    if app.in_transaction:
        driver = producer.producer  # TransactionManager -> the aiokafka driver's Producer
        tid = _transactional_id(app, source, partition)
        producer = driver._transaction_producers.get(tid)
        return producer, (driver._trn_locks[tid] if producer is not None else None)
    return producer._ensure_producer(), None


async def _producer_when_assigned(app: faust.App, event: faust.EventT, partition: int):  # noqa: ANN202
    """Wait for the transactional producer of a partition this worker still holds.

    During a rebalance Faust stops the producers of revoked partitions and starts those of
    assigned ones; a batch taken before it can reach its sends in between. Dropping the
    results of a partition that stays assigned would lose them: the next batch's offsets
    would commit past them. So wait while the partition is assigned (or the assignment is
    being rebuilt); give up only once it belongs to another worker.
    """
    tp = event.message.tp
    deadline = asyncio.get_running_loop().time() + 4 * app.conf.broker_session_timeout
    while asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
        producer, lock = await _record_producer(app, event.message.topic, partition)
        if producer is not None:
            return producer, lock
        assigned = app.consumer.assignment()
        if assigned and tp not in assigned:
            return None, None
    # Still ours, and no producer: stop the worker rather than let a later batch commit
    # offsets past these results (nothing of this partition commits after a crash).
    exc = RuntimeError(f"no transactional producer for {tp}, which is still assigned")
    await app.crash(exc)
    return None, None


def _transactional_id(app: faust.App, source: str, partition: int) -> str:
    """Faust's transactional id of the producer for ``source``'s ``partition``."""
    return f"{app.conf.id}-{app.assignor.group_for_topic(source)}-{partition}"


async def _send_batch(producer, batch, topic: str, partition: int) -> asyncio.Future:  # noqa: ANN001
    batch.close()
    return await producer.send_batch(batch, topic, partition=partition)


def _commit_what_was_sent(app: faust.App, driver, ready_offsets: dict, committed: dict) -> None:  # noqa: ANN001
    """Make Faust's transaction commits send the offsets whose results are in the transaction.

    Faust computes the offsets to commit (from acknowledged events) before it takes a
    producer's lock, and a micro-batch's events are acknowledged only when the agent asks for
    the next batch; committed as they are, a transaction could hold a batch's results without
    its offsets (the next owner of the partition would score the batch again) or, after a
    later commit, move the offset back. Instead each commit sends, under the producer's lock,
    the offsets :func:`_publish` recorded next to the results it queued in that transaction,
    and every transaction holding such results is committed, whether Faust listed it or not
    (at a rebalance Faust commits and ends all transactions, and the consumer then goes back
    to the committed offsets). ``committed`` keeps what was last committed per partition.
    """

    async def commit_one(transactional_id, tps, group_id, start_new_transaction):  # noqa: ANN001
        async with driver._trn_locks[transactional_id]:
            producer = driver._transaction_producers.get(transactional_id)
            if producer is None:
                _log.warning("commit for unknown transaction %s", transactional_id)
                return
            if producer._txn_manager.is_in_transaction():
                ready = {tp: ready_offsets[tp] for tp in tps if tp in ready_offsets}
                if ready:
                    await producer.send_offsets_to_transaction(ready, group_id)
                await producer.commit_transaction()
                committed.update(ready)
            if start_new_transaction:
                await producer.begin_transaction()

    async def commit_transactions(tid_to_offset_map, group_id, start_new_transaction=True):  # noqa: ANN001
        by_tid: dict[str, set] = {tid: set(offsets) for tid, offsets in tid_to_offset_map.items()}
        for tp, offset in list(ready_offsets.items()):
            if committed.get(tp) != offset:
                by_tid.setdefault(_transactional_id(app, tp.topic, tp.partition), set()).add(tp)
        # One transaction per input partition, each with its own producer and lock: commit
        # them together; in turn, each waits out the others' round trips to the coordinator.
        await asyncio.gather(
            *(commit_one(tid, tps, group_id, start_new_transaction) for tid, tps in by_tid.items())
        )

    driver.commit_transactions = commit_transactions
