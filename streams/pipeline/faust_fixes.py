"""Two fixes to faust-streaming 0.15's start of work after a rebalance, installed by the worker.

Both show when a worker takes over partitions whose table state it must first rebuild from the
changelog, and records are already waiting in the input partitions (a worker replacing stopped
ones while events keep coming):

* :func:`highwaters_from_broker`: table recovery stopped with a ConsistencyError;
* :func:`resume_streams_after_seek`: input records were silently skipped, never scored and
  never dead-lettered, and their offsets were committed past.
"""

from __future__ import annotations

import asyncio

from faust.tables.recovery import Recovery
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

__all__ = ["highwaters_from_broker", "install", "resume_streams_after_seek"]


def install() -> None:
    """Patch Faust's classes (idempotent)."""
    AIOKafkaConsumerThread._highwaters = highwaters_from_broker
    Recovery.on_recovery_completed = resume_streams_after_seek


async def highwaters_from_broker(self, partitions):  # noqa: ANN001, ANN201
    """Changelog highwaters for table recovery, asked of the broker.

    faust-streaming 0.15 under exactly-once takes them from ``last_stable_offset``, which
    aiokafka knows only for a partition it has fetched since it was assigned; for any other it
    is ``None``, Faust reads that as -1, and recovery stops with a ConsistencyError ("persisted
    offset higher than highwater") whenever a partition whose changelog this worker already
    applied is assigned again, as when a worker takes over from one that stopped. A ListOffsets
    request answers for every partition, and with the consumer's read_committed isolation its
    answer is the last stable offset, the value Faust wanted.
    """
    return await self._ensure_consumer().end_offsets(partitions)


async def resume_streams_after_seek(self: Recovery, generation_id: int = 0) -> None:
    """``Recovery.on_recovery_completed`` with the input partitions resumed last.

    Faust resumes fetching the input partitions, then seeks them to their committed offsets
    (aiokafka asks for and seeks one partition at a time, a broker round trip each), and then
    resumes flow control, which empties every stream queue. Flow into the queues is already
    on (it was turned on to read the changelogs), so a partition seeked early is fetched while
    the others are still being seeked, and what it fetched is then thrown away with the
    queues while its fetch position stays after it: a block of input records is skipped. The
    next records are scored and their offsets committed, so the skipped ones are lost (seen
    here as 10-43 consecutive records per partition without a result after a takeover;
    upstream: faust-streaming/faust#596). Here the partitions stay paused until they are
    seeked and the queues are emptied, so the first record fetched is the committed one.
    """
    app = self.app
    consumer = app.consumer
    self.log.info("Restore complete!")
    await app.on_rebalance_complete.send()
    self._set_recovery_ended()
    callbacks = [
        asyncio.ensure_future(
            table.on_recovery_completed(
                self.actives_for_table[table], self.standbys_for_table[table]
            )
        )
        for table in self.tables.values()
    ]
    if callbacks:
        await asyncio.wait(callbacks)
    assignment = consumer.assignment()
    if app.consumer_generation_id != generation_id:
        self.log.warning(
            "Recovery rebalancing again app id %s param %s",
            app.consumer_generation_id,
            generation_id,
        )
        return
    if assignment:
        self.log.info("Seek stream partitions to committed offsets.")
        await self._wait(consumer.perform_seek(), timeout=app.conf.broker_request_timeout)
    self.completed.set()
    app.flow_control.resume()  # empties the stream queues: nothing of the inputs is in them
    consumer.resume_partitions({tp for tp in assignment if not self._is_changelog_tp(tp)})
    consumer.resume_flow()
    await app._fetcher.maybe_start()
    self.tables.on_actives_ready()
    if not app.assignor.assigned_standbys():
        self.tables.on_standbys_ready()
    app.on_rebalance_end()
    self.log.info("Worker ready")
