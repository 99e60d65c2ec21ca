"""Hot swap: the worker's current :class:`ModelSet`, replaced atomically between batches.

An agent asks :meth:`ModelHolder.get` for the model set at the start of every batch and keeps
that reference for the whole batch, so a swap (one attribute assignment, on the event loop)
lands between batches: a batch in flight finishes with the models it started with, and every
event is scored exactly once, by the old or by the new champion.

A :class:`ModelEventFollower` thread reads the compacted model-events topic from its start,
applies each event to the worker's registry (installing the champion's files it carries), and
tells the holder to reload when the champions differ from the ones it serves. The holder's
first load waits until that thread has read the topic to its end, so a worker that starts after
a promotion serves the promoted champion from its first batch.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence

from confluent_kafka import KafkaException

from streams.scoring import ModelSet, load_model_set
from streams.settings import Settings

__all__ = ["ModelEventFollower", "ModelHolder"]

_log = logging.getLogger(__name__)

CATCH_UP_TIMEOUT_S = 60.0
"""How long a starting worker waits for the model-events topic before loading from its own
registry anyway (logged as an error)."""


class ModelHolder:
    """The model set a worker scores with now, and the champion versions it holds."""

    def __init__(
        self,
        settings: Settings,
        models: Sequence[str] | None = None,
        model_set: ModelSet | None = None,
    ) -> None:
        self._settings = settings
        self._models = models
        self._given = model_set
        self._current: ModelSet | None = None
        self.versions: dict[str, str] = {}
        self.swaps = 0
        self._lock = asyncio.Lock()
        self._ready = asyncio.Event()  # set once the model-events topic was read to its end

    def mark_caught_up(self) -> None:
        self._ready.set()

    def current(self) -> ModelSet:
        """The model set to score the next batch with (from any thread; after :meth:`get`)."""
        current = self._current
        if current is None:
            raise RuntimeError("no model set loaded yet: await ModelHolder.get() first")
        return current

    async def get(self) -> ModelSet:
        """The current model set (loaded and warmed up on first use)."""
        current = self._current
        if current is not None:
            return current
        async with self._lock:  # two agents start together: load once
            if self._current is None:
                try:
                    await asyncio.wait_for(self._ready.wait(), CATCH_UP_TIMEOUT_S)
                except TimeoutError:
                    _log.error(
                        "model-events not read to its end within %.0f s; loading the local "
                        "registry's champions",
                        CATCH_UP_TIMEOUT_S,
                    )
                self._install(*await self._load(self._given))
        return self._current

    async def reload_if_changed(self) -> bool:
        """Load the registry's champions if they differ from the served ones; swap atomically.

        The new set is loaded and warmed up in a thread first; scoring goes on meanwhile.
        A set that fails to load is logged and the old one kept."""
        async with self._lock:
            if self._current is None or self._champions() == self.versions:
                return False
            try:
                loaded = await self._load(None)
            except Exception:
                _log.exception("loading the new champions failed; keeping %s", self.versions)
                return False
            old = dict(self.versions)
            self._install(*loaded)
            self.swaps += 1
            _log.warning("hot swap: %s -> %s", old, self.versions)
            return True

    def _champions(self) -> dict[str, str]:
        from models.registry import TASKS, ModelRegistry

        reg = ModelRegistry.from_settings(self._settings)
        tasks = self._models or TASKS
        out = {}
        for task in tasks:
            champ = reg.champion(task)
            if champ is not None:
                out[task] = champ.version
        return out

    async def _load(self, given: ModelSet | None) -> tuple[ModelSet, dict[str, str]]:
        def load() -> tuple[ModelSet, dict[str, str]]:
            versions = self._champions()
            found = given or load_model_set(self._settings, self._models)
            found.warm_up()
            return found, versions

        return await asyncio.get_running_loop().run_in_executor(None, load)

    def _install(self, model_set: ModelSet, versions: dict[str, str]) -> None:
        from streams.metrics import MODEL_VERSION, set_degraded

        set_degraded(getattr(model_set, "degraded", {}))  # a given set may not say

        for task, version in self.versions.items():
            if versions.get(task) != version:
                MODEL_VERSION.remove(task, version, "champion")
        for task, version in versions.items():
            MODEL_VERSION.labels(task, version, "champion").set(1)
        self._current = model_set  # the swap: one reference, between batches
        self.versions = versions


class ModelEventFollower:
    """A daemon thread that applies model events to the local registry (see module doc)."""

    def __init__(self, settings: Settings, bootstrap: str, holder: ModelHolder) -> None:
        self._settings = settings
        self.bootstrap = bootstrap
        self._holder = holder
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.Thread(target=self._run, name="model-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        from models.registry import ModelRegistry
        from streams.learning.events import apply_event, read_events

        registry = ModelRegistry.from_settings(self._settings)
        caught_up = False
        while not self._stop.is_set():
            try:
                for event in read_events(
                    self._settings, self.bootstrap, follow=lambda: not self._stop.is_set()
                ):
                    if event is None:
                        caught_up = True
                        self._call(self._holder.mark_caught_up)
                        self._call_reload()
                        continue
                    try:
                        apply_event(registry, event)
                    except Exception:
                        _log.exception("applying model event %s failed", event.summary())
                        continue
                    if caught_up:
                        self._call_reload()
            except KafkaException as exc:  # the broker went away: retry
                _log.warning("following model-events failed: %s; retrying in 2 s", exc)
                self._stop.wait(2.0)
            except Exception:
                _log.exception("following model-events failed; retrying in 2 s")
                self._stop.wait(2.0)

    def _call(self, fn) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn)

    def _call_reload(self) -> None:
        def reload() -> None:
            asyncio.ensure_future(self._holder.reload_if_changed())

        self._call(reload)
