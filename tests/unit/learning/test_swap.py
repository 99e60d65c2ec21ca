"""ModelHolder: the model set changes only between batches, and a bad new model keeps the old."""

from __future__ import annotations

import asyncio

import pytest

from streams.learning import swap
from streams.settings import load_settings


class FakeSet:
    def __init__(self, name: str) -> None:
        self.name = name

    def warm_up(self) -> None:
        if self.name == "broken":
            raise RuntimeError("cannot load")


def test_a_batch_keeps_its_models_and_the_next_batch_gets_the_new_ones(monkeypatch, tmp_path):
    champions = {"churn": "v0001"}
    sets = iter([FakeSet("v0001"), FakeSet("v0002"), FakeSet("broken")])
    monkeypatch.setattr(swap, "load_model_set", lambda settings, models: next(sets))
    monkeypatch.setattr(swap.ModelHolder, "_champions", lambda self: dict(champions))
    holder = swap.ModelHolder(load_settings(env={}, state_dir=tmp_path))

    async def run() -> None:
        holder.mark_caught_up()
        in_flight = await holder.get()  # a batch starts with v0001
        assert await holder.reload_if_changed() is False  # nothing changed
        champions["churn"] = "v0002"
        assert await holder.reload_if_changed() is True
        assert in_flight.name == "v0001"  # the batch in flight still holds its set
        assert (await holder.get()).name == "v0002"  # the next batch gets the new one
        assert holder.versions == {"churn": "v0002"} and holder.swaps == 1
        champions["churn"] = "v0003"
        assert await holder.reload_if_changed() is False  # fails to load: keep serving
        assert (await holder.get()).name == "v0002"

    asyncio.run(run())


def test_the_first_load_waits_for_the_model_events_topic(monkeypatch, tmp_path):
    monkeypatch.setattr(swap, "load_model_set", lambda settings, models: FakeSet("v0001"))
    monkeypatch.setattr(swap.ModelHolder, "_champions", lambda self: {"churn": "v0001"})
    holder = swap.ModelHolder(load_settings(env={}, state_dir=tmp_path))

    async def run() -> None:
        first = asyncio.ensure_future(holder.get())
        await asyncio.sleep(0.05)
        assert not first.done()  # not before the topic was read to its end
        holder.mark_caught_up()
        assert (await asyncio.wait_for(first, 5)).name == "v0001"

    asyncio.run(run())


@pytest.fixture(autouse=True)
def _no_metrics_leak():
    yield
    from streams.metrics import MODEL_VERSION

    MODEL_VERSION.clear()
