"""The end of table recovery must not skip input records (streams.pipeline.faust_fixes).

A model of what Recovery.on_recovery_completed drives: aiokafka seeks the input partitions to
their committed offsets one round trip at a time, a partition that is not paused is fetched
into the stream queue whenever the event loop is free, and flow control's resume empties that
queue. Run through Faust's own method, the model loses records; through the fix, the first
record each partition delivers is its committed one.
"""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

from faust.tables.recovery import Recovery

from streams.pipeline.faust_fixes import resume_streams_after_seek

INPUTS = [("activity", p) for p in range(3)]
CHANGELOG = ("worker-entity-windows-changelog", 0)
COMMITTED = 100


class Broker:
    """Input partitions, a consumer's positions and pause state, and the stream queue."""

    def __init__(self) -> None:
        self.position = {tp: COMMITTED for tp in INPUTS}  # where the assignment left them
        self.paused = set(INPUTS)  # Faust pauses inputs while the changelogs are read
        self.queue: list[tuple[tuple[str, int], int]] = []

    def fetch(self) -> None:
        for tp in INPUTS:
            if tp not in self.paused:
                start = self.position[tp]
                self.queue += [(tp, off) for off in range(start, start + 5)]
                self.position[tp] = start + 5

    async def fetcher(self) -> None:
        while True:
            self.fetch()
            await asyncio.sleep(0)


class Consumer:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    def assignment(self) -> set:
        return {*INPUTS, CHANGELOG}

    async def perform_seek(self) -> None:
        for tp in INPUTS:  # aiokafka: committed(tp) is a round trip, then seek_to(tp)
            await asyncio.sleep(0)
            self.broker.position[tp] = COMMITTED

    def resume_partitions(self, tps) -> None:  # noqa: ANN001
        self.broker.paused -= set(tps)

    def resume_flow(self) -> None:
        pass


async def finish_recovery(method) -> dict:  # noqa: ANN001
    broker = Broker()

    async def nothing(*args, **kwargs) -> None:  # noqa: ANN002, ANN003
        return None

    async def wait(coro, timeout=None) -> None:  # noqa: ANN001
        await coro

    app = SimpleNamespace(
        consumer=Consumer(broker),
        consumer_generation_id=7,
        on_rebalance_complete=SimpleNamespace(send=nothing),
        flow_control=SimpleNamespace(resume=broker.queue.clear),
        conf=SimpleNamespace(broker_request_timeout=30.0),
        _fetcher=SimpleNamespace(maybe_start=nothing),
        assignor=SimpleNamespace(assigned_standbys=lambda: set()),
        on_rebalance_end=lambda: None,
    )
    log = logging.getLogger("test-recovery")
    log.dev = log.debug
    recovery = SimpleNamespace(
        app=app,
        log=log,
        tables=SimpleNamespace(
            values=lambda: [], on_actives_ready=lambda: None, on_standbys_ready=lambda: None
        ),
        actives_for_table={},
        standbys_for_table={},
        completed=asyncio.Event(),
        _set_recovery_ended=lambda: None,
        _wait=wait,
        _is_changelog_tp=lambda tp: tp == CHANGELOG,
    )
    fetching = asyncio.ensure_future(broker.fetcher())
    try:
        await method(recovery, generation_id=7)
        for _ in range(3):  # the stream starts reading
            await asyncio.sleep(0)
    finally:
        fetching.cancel()
    first: dict = {}
    for tp, offset in broker.queue:
        first.setdefault(tp, offset)
    return first


def test_every_input_partition_starts_at_its_committed_offset():
    first = asyncio.run(finish_recovery(resume_streams_after_seek))
    assert first == {tp: COMMITTED for tp in INPUTS}


def test_fausts_own_order_skips_records_in_this_model():
    """The negative control: the model reproduces the loss the fix is for."""
    first = asyncio.run(finish_recovery(Recovery.on_recovery_completed))
    skipped = {tp: off - COMMITTED for tp, off in first.items() if off != COMMITTED}
    assert skipped, first
