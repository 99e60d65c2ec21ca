"""The leader's continuous-learning loop: a Faust timer that retrains when due or drifted."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from streams.errors import ConfigError
from streams.learning.drift import DriftMonitor
from streams.learning.retrain import StreamCollector, build_sets, retrain_pool, retrain_task
from streams.learning.swap import ModelEventFollower, ModelHolder
from streams.settings import Settings

__all__ = ["Learner", "add_learning"]

_log = logging.getLogger(__name__)

TICK_S = 5.0
"""How often the leader checks whether a retrain is due (or drift asked for one)."""

MIN_HOLDOUT = 50
"""Fewest held-out rows worth training for at all; below it a retrain is skipped, not gated."""


class Learner:
    """Collects the streams (from the first tick on the leader on), watches drift, retrains."""

    def __init__(self, settings: Settings, bootstrap: str, models: Sequence[str] | None) -> None:
        self.settings = settings
        self.monitor = DriftMonitor(settings)
        self.collector = StreamCollector(settings, bootstrap, self.monitor)
        self._models = models
        self._last: dict[str, float] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._busy = False
        self._seen: dict[str, tuple[int, int]] = {}  # (train, held-out) rows of the last retrain
        self._drifted: set[str] = set()  # drift asked for a retrain that has not run yet
        self.decisions: list[dict] = []

    def _tasks(self) -> list[str]:
        from models.registry import TASKS, ModelRegistry

        reg = ModelRegistry.from_settings(self.settings)
        chosen = retrain_tasks(self.settings)
        return [
            t
            for t in (self._models or TASKS)
            if (not chosen or t in chosen) and reg.champion(t) is not None
        ]

    async def tick(self) -> None:
        if not self.collector.started:
            self.collector.start()
            now = time.monotonic()
            self._last = dict.fromkeys(self._tasks(), now)
            return
        if self._busy:
            return
        self._drifted |= self.monitor.take_requests()
        drifted = set(self._drifted)
        now = time.monotonic()
        due = [
            t
            for t in self._tasks()
            if t in drifted or now - self._last.get(t, now) >= self.settings.retrain_interval_s
        ]
        if not due:
            return
        self._busy = True
        try:
            for task in due:
                self._last[task] = time.monotonic()
                done = await self.retrain(task, "drift" if task in drifted else "timer")
                if done is not None:  # too little data keeps the drift request pending
                    self._drifted.discard(task)
        finally:
            self._busy = False

    async def retrain(self, task: str, trigger: str) -> dict | None:
        """One retrain of ``task`` in the child process; None when there was too little data."""
        from streams.metrics import RETRAINS

        loop = asyncio.get_running_loop()

        def sets():
            snaps, outcomes = self.collector.data(task)
            return build_sets(snaps, outcomes, holdout=self.settings.retrain_holdout)

        train, holdout = await loop.run_in_executor(None, sets)
        seen = (len(train), len(holdout))
        if trigger == "timer" and self._seen.get(task) == seen:
            _log.info("retrain %s skipped: no new labelled rows since the last one", task)
            return None
        self._seen[task] = seen
        if len(holdout) < MIN_HOLDOUT or len(train) < MIN_HOLDOUT:
            _log.info(
                "retrain %s skipped: %d train / %d held-out rows", task, len(train), len(holdout)
            )
            return None
        if self._pool is None:
            self._pool = retrain_pool()
        try:
            decision = await asyncio.wrap_future(
                self._pool.submit(
                    retrain_task, self.settings, task, train, holdout, trigger=trigger
                )
            )
        except Exception:
            _log.exception("retrain %s failed", task)
            RETRAINS.labels(task, "failed").inc()
            return None
        RETRAINS.labels(task, decision["event"]).inc()
        if decision["event"] == "promoted":
            self.monitor.reset(task)
        self.decisions.append(decision)
        return decision


def retrain_tasks(settings: Settings) -> tuple[str, ...]:
    """The tasks ``STREAMSCORE_RETRAIN_TASKS`` names (empty: every task the worker scores);
    a name that is not a task is a :class:`~streams.errors.ConfigError`."""
    from models.registry import TASKS

    names = tuple(n.strip() for n in settings.retrain_tasks.split(",") if n.strip())
    unknown = [n for n in names if n not in TASKS]
    if unknown:
        raise ConfigError(
            "retraining (env STREAMSCORE_RETRAIN_TASKS): expected a comma-separated list of "
            f"{', '.join(TASKS)}, got {settings.retrain_tasks!r}"
        )
    return names


def add_learning(
    app,
    settings: Settings,
    models: Sequence[str] | None,
    holder: ModelHolder,
    follower: ModelEventFollower,
) -> Learner | None:
    """Add the leader-only retraining timer to ``app`` (nothing when the interval is 0)."""
    if settings.retrain_interval_s <= 0:
        return None
    retrain_tasks(settings)  # a bad STREAMSCORE_RETRAIN_TASKS stops the worker at its start
    learner = Learner(settings, follower.bootstrap, models)

    @app.timer(min(TICK_S, settings.retrain_interval_s), on_leader=True, name="retrain")
    async def _retrain_tick() -> None:
        await learner.tick()

    return learner
