"""The worker: a Faust app whose scoring path runs on librdkafka, in whole batches.

Faust is the worker process: its CLI (``faust -A streams.app worker``, ``streamscore worker``),
services supervised by it, the web server (``/metrics``), timers and the leader that retrains,
and the model-events follower with hot swap. The scoring path is one Faust service,
:class:`ScoringService`, which runs a :class:`~streams.pipeline.loop.ScoringLoop` in a thread of
its own: a confluent-kafka consumer in the worker group (``<prefix>worker.<roles>.<models>``)
hands whole batches to :class:`~streams.pipeline.processor.BatchProcessor`, and one
transactional producer per process commits results, window-state changelog and input offsets
together (exactly-once v2). Faust's own consumer only elects the leader, in a group of its own
(``<prefix>app.<roles>.<models>``); Faust produces and commits nothing of the scoring path.

Each worker process claims a slot directory under ``<state dir>/workers/<group>/``: a file lock
keeps two processes out of one slot, and the slot holds the process's window-state stores and a
stable id, so a restarted worker uses the same transactional id (its predecessor's open
transaction is aborted at once instead of timing out) and restores only the state it lacks.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import threading
import uuid
import weakref
from collections.abc import Sequence
from pathlib import Path

import faust
import mode
from confluent_kafka.admin import NewTopic

from streams.kafka import resolve_bootstrap
from streams.kafka.clients import list_metadata, make_admin
from streams.kafka.logs import install_repeat_filter
from streams.kafka_security import faust_credentials
from streams.learning import ModelEventFollower, ModelHolder, add_learning
from streams.pipeline import telemetry
from streams.pipeline.loop import LoopConfig, ScoringLoop, ScoringStopped
from streams.scoring import ModelSet
from streams.settings import Settings
from streams.topics import TOPICS, topic_name
from streams.web.auth import worker_web_options

__all__ = ["INPUT_ROLES", "ScoringService", "create_app", "scoring_service", "worker_group"]

_log = logging.getLogger(__name__)

INPUT_ROLES: dict[str, str] = {"activity": "activity", "logs": "raw-logs"}
"""Worker role -> the input topic (logical key) its scoring path consumes."""

CHANGELOG_SUFFIX = "-entity-windows-changelog"

CRASH_EXIT_AFTER_S = 30.0
"""How long a worker whose scoring path failed may take to shut down before it is ended."""


_SERVICES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def scoring_service(app: faust.App) -> ScoringService:
    """The scoring service of an app built by :func:`create_app`."""
    return _SERVICES[app]


def worker_group(settings: Settings, roles: Sequence[str], models: Sequence[str] | None) -> str:
    """The consumer group of workers with these roles and models (they share the partitions)."""
    model_key = "-".join(sorted(models)) if models else "all"
    return f"{settings.topic_prefix}worker.{'-'.join(sorted(roles))}.{model_key}"


def create_app(
    settings: Settings,
    roles: Sequence[str] = tuple(INPUT_ROLES),
    models: Sequence[str] | None = None,
    model_set: ModelSet | None = None,
) -> faust.App:
    """A Faust app whose scoring service consumes the ``roles``' input topics and scores with
    ``models`` (every champion when None).

    Workers with the same roles and models form one consumer group and share the partitions;
    a different model subset is a different group, so one model can run on its own workers.
    ``model_set`` is loaded from the registry at worker start-up when not given. Nothing touches
    Kafka or the disk until the worker starts.
    """
    unknown = set(roles) - set(INPUT_ROLES)
    if unknown:
        raise ValueError(f"unknown worker role(s) {sorted(unknown)}; expected {list(INPUT_ROLES)}")
    group = worker_group(settings, roles, models)
    bootstrap = resolve_bootstrap(settings)
    app = faust.App(
        group.replace(".worker.", ".app.", 1) if ".worker." in group else f"{group}.app",
        broker=";".join(f"kafka://{server}" for server in bootstrap.split(",")),
        broker_credentials=faust_credentials(settings),  # TLS/SASL settings, None: PLAINTEXT
        store="memory://",
        processing_guarantee="at_least_once",  # Faust commits nothing of the scoring path
        topic_partitions=1,
        topic_replication_factor=1,
        topic_allow_declare=True,
        datadir=str((settings.state_dir / "faust").resolve()),
        web_enabled=settings.web_port > 0,
        web_port=settings.web_port or 6066,
        web_bind=settings.web_host,
        web_host="127.0.0.1",
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        **worker_web_options(settings),  # the web token on every route; no /table, /router
    )
    # Hot swap (streams.learning): the scoring loop takes the holder's model set at the start
    # of each batch; a follower thread applies model events and makes the holder swap between
    # batches. The first load waits until model-events was read to its end.
    holder = ModelHolder(settings, models, model_set)
    follower = ModelEventFollower(settings, bootstrap, holder)
    inputs = {topic_name(settings, INPUT_ROLES[r]): INPUT_ROLES[r] for r in roles}
    outputs = {
        key: topic_name(settings, key)
        for key in ("scores", "score-batches", "features", "dead-letters")
    }
    outputs["changelog"] = group + CHANGELOG_SUFFIX
    service = ScoringService(app, settings, bootstrap, group, inputs, outputs, holder, follower)
    app.service(service)
    _SERVICES[app] = service
    add_learning(app, settings, models, holder, follower)
    telemetry.install(app, settings)
    return app


class ScoringService(mode.Service):
    """Runs the scoring loop in its own thread for as long as the Faust worker runs.

    It starts once the models are loaded (after model-events was read to its end). When the
    loop fails, the worker crashes with :class:`ScoringStopped`, stops and exits with code 70
    (ended after :data:`CRASH_EXIT_AFTER_S` if its shutdown hangs), so a supervisor restarts it.
    """

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        bootstrap: str,
        group: str,
        inputs: dict[str, str],
        outputs: dict[str, str],
        holder: ModelHolder,
        follower: ModelEventFollower,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.app = app
        self.settings = settings
        self.bootstrap = bootstrap
        self.group = group
        self.inputs = inputs
        self.outputs = outputs
        self.holder = holder
        self.follower = follower
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._slot: _Slot | None = None
        self.loop_obj: ScoringLoop | None = None

    async def on_start(self) -> None:
        install_repeat_filter()  # a broker outage is logged once, then every few seconds
        self._slot = _Slot.claim(self.settings.state_dir / "workers" / self.group)
        await asyncio.get_running_loop().run_in_executor(None, self._create_changelog)
        self.follower.start(asyncio.get_running_loop())
        await self.holder.get()  # load and warm up before the first event, not on it
        exactly_once = self.settings.processing_guarantee == "exactly_once"
        config = LoopConfig(
            bootstrap=self.bootstrap,
            group=self.group,
            inputs=self.inputs,
            outputs=self.outputs,
            state_dir=self._slot.path / "state",
            transactional_id=f"{self.group}.{self._slot.uid}" if exactly_once else None,
        )
        self.loop_obj = ScoringLoop(self.settings, config, self.holder.current)
        loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, args=(loop,), name="scoring", daemon=True)
        self._thread.start()

    async def on_stop(self) -> None:
        self._stopping.set()
        self.follower.stop()
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 60)
        if self._slot is not None:
            self._slot.release()

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            self.loop_obj.run(self._stopping)
        except ScoringStopped as exc:
            _log.critical("%s; the worker exits", exc)
            self._fail(loop, exc)
        except BaseException as exc:
            _log.critical("the scoring loop died: %r; the worker exits", exc, exc_info=True)
            self._fail(loop, ScoringStopped(f"scoring stopped: {exc!r}"))

    def _fail(self, loop: asyncio.AbstractEventLoop, exc: BaseException) -> None:
        # Not named _crash: mode.Service.crash calls _crash(reason) on every service of the
        # app, and a method of that name here made it raise TypeError and stop nothing.
        def end() -> None:  # a shutdown that hangs must not leave an idle worker behind
            _log.critical("the worker did not stop within %.0f s; exiting", CRASH_EXIT_AFTER_S)
            os._exit(70)

        timer = threading.Timer(CRASH_EXIT_AFTER_S, end)
        timer.daemon = True
        timer.start()
        if loop.is_closed():
            os._exit(70)
        asyncio.run_coroutine_threadsafe(self._crash_and_exit(exc), loop)

    async def _crash_and_exit(self, exc: BaseException) -> None:
        """Mark the app crashed (Faust logs the reason), stop it (leave the group, close the
        clients) and exit 70 (a crashed Faust app stops nothing by itself)."""
        try:
            await self.app.crash(exc)
            await self.app.stop()
        finally:
            logging.shutdown()  # flush the log before the process ends without unwinding
            os._exit(70)

    def _create_changelog(self) -> None:
        """The window-state changelog: compacted, one partition per input partition."""
        name = self.outputs["changelog"]
        admin = make_admin(self.bootstrap, self.settings)
        if name in list_metadata(admin, self.settings, 30).topics:
            return
        spec = NewTopic(
            name,
            TOPICS["activity"].partitions,
            -1,
            config={"cleanup.policy": "compact", "max.message.bytes": str(1024 * 1024)},
        )
        for future in admin.create_topics([spec], request_timeout=30).values():
            try:
                future.result()
            except Exception as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise


class _Slot:
    """A locked directory of one worker process: its window-state stores and its stable id."""

    def __init__(self, path: Path, lock_fd: int) -> None:
        self.path = path
        self._fd = lock_fd
        id_file = path / "id"
        if not id_file.exists():
            id_file.write_text(uuid.uuid4().hex[:16] + "\n")
        self.uid = id_file.read_text().strip()

    @classmethod
    def claim(cls, root: Path, most: int = 1024) -> _Slot:
        root.mkdir(parents=True, exist_ok=True)
        for i in range(most):
            path = root / f"slot-{i}"
            path.mkdir(exist_ok=True)
            fd = os.open(path / "lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return cls(path, fd)
        raise ScoringStopped(f"all {most} worker slots under {root} are taken")

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
