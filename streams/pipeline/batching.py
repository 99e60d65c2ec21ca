"""Micro-batches that leave as soon as nothing more is waiting ("natural batching").

Faust's ``Stream.take_events(max_, within)`` always waits ``within`` for a batch to fill unless
``max_`` events arrive first, so every event waits for the timer: at a tenth of a second, that is
most of an event's latency at moderate load. :func:`take_ready` hands over a batch as soon as the
stream's channel has no more events queued (or at ``max_``, or after ``within``): at low load a
batch is whatever arrived while the previous one was scored, at high load batches fill to
``max_``, and throughput is what ``take_events`` gives.

Measured (tests/benchmarks/bench_pipeline.py, one worker on a 2-core VM): at 50% and 80% of the
sustained rate its small batches cost more than the window saves, because a batch has a fixed
cost (about 3 ms in the processor, plus one send per output topic and partition); workers use it
only with ``STREAMSCORE_BATCHING=ready``.

Acknowledgement is take_events': events are acked when the agent asks for the next batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import faust

__all__ = ["take_ready"]


async def take_ready(
    stream: faust.StreamT, max_: int, within: float
) -> AsyncIterator[list[faust.EventT]]:
    """Yield lists of up to ``max_`` events: as soon as no more are queued, at the latest
    ``within`` seconds after the first event of the batch arrived."""
    loop = asyncio.get_running_loop()
    events: list[faust.EventT] = []
    have_events = asyncio.Event()
    room = asyncio.Event()
    room.set()
    consuming: asyncio.Future | None = None
    channel = aiter(stream.channel)

    async def add_to_buffer(value):  # noqa: ANN001, ANN202 - a Faust stream processor
        nonlocal consuming
        if consuming is not None:  # the agent is reading the batch: wait until it is done
            await consuming
        event = stream.current_event
        if event is None:
            raise RuntimeError("take_ready found no current event")
        events.append(event)
        have_events.set()
        if len(events) >= max_:
            room.clear()
            await stream.wait(room)
        return value

    enable_acks = stream.enable_acks
    stream.enable_acks = False  # acked below, once the agent has had the batch
    stream.add_processor(add_to_buffer)
    stream._enable_passive(channel)  # noqa: SLF001 - how take_events feeds its processor
    try:
        while not stream.should_stop:
            await stream.wait_for_stopped(have_events)
            if not events:
                continue
            deadline = loop.time() + within
            # Let the stream move whatever is already queued into the batch.
            while len(events) < max_ and not channel.empty() and loop.time() < deadline:
                await asyncio.sleep(0)
            consuming = loop.create_future()
            batch = list(events)
            try:
                yield batch
            finally:
                events.clear()
                have_events.clear()
                for event in batch:
                    await stream.ack(event)
                consuming.set_result(None)
                consuming = None
                room.set()
    finally:
        stream.enable_acks = enable_acks
        stream._processors.remove(add_to_buffer)  # noqa: SLF001
