"""take_ready hands over what is waiting, at most max_ events, in order, each event once."""

import asyncio
import time

import faust

from streams.pipeline.batching import take_ready


def run_agent(values: list[int], max_: int, within: float, work_s: float, together: bool):
    app = faust.App(f"t-take-ready-{max_}-{together}", store="memory://")
    batches: list[list[int]] = []

    @app.agent()
    async def agent(stream):  # noqa: ANN001, ANN202
        async for batch in take_ready(stream, max_, within):
            batches.append([e.value for e in batch])
            await asyncio.sleep(work_s)  # scoring the batch

    async def main() -> list[list[int]]:
        async with agent.test_context() as a:
            start = time.perf_counter()
            if together:
                await asyncio.gather(*(a.put(v) for v in values))
            else:
                for v in values:
                    await a.put(v)
            while sum(map(len, batches)) < len(values) and time.perf_counter() - start < 10:
                await asyncio.sleep(0.01)
            return [list(b) for b in batches]  # what arrived before the agent stops

    return asyncio.run(main())


def test_every_event_once_in_order_and_batches_bounded():
    values = list(range(200))
    batches = run_agent(values, max_=16, within=5.0, work_s=0.005, together=True)
    assert [v for b in batches for v in b] == values
    assert max(map(len, batches)) <= 16
    assert len(batches) < len(values)  # events that waited went together


def test_a_batch_does_not_wait_for_the_window_when_nothing_else_is_queued():
    # An hour's window: take_events would hold these events for an hour, and the agent would
    # have nothing when run_agent stops waiting (10 s).
    batches = run_agent([1, 2, 3], max_=1000, within=3600.0, work_s=0.0, together=False)
    assert [v for b in batches for v in b] == [1, 2, 3]
