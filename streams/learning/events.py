"""Model events: every registry decision, on the compacted ``model-events`` topic.

One record per decision, keyed by task name, so compaction keeps each task's latest: what a
worker starting later must know. The value is JSON::

    {"task": "churn", "event": "promoted", "version": "v0003", "parent": "v0002",
     "champion": "v0003", "metrics": {...}, "samples": {"train": 4000, "holdout": 1500},
     "reason": "...", "time_ms": 1767225600000, "artifact": "<base64 tar.gz of v0003>"}

``champion`` is the task's champion *after* the decision; an event whose champion changed
(``promoted``, ``rolled_back``) carries that champion's registry directory (``artifact``), so a
worker with its own disk installs it without a shared registry. Applying an event is
idempotent (install if missing, make champion if not already), so replays are harmless.

An event is trusted only as far as it is valid: its task must be a registry task, its
``version``, ``champion`` and ``parent`` the registry's own version names (``v0003``), its
``event`` one of :data:`EventKind`; anything else is refused (:meth:`ModelEvent.from_json`
raises, :func:`read_events` logs and skips it), so no name from the topic can point a registry
outside its folder. Values are written as strict JSON: a metric that is undefined (NaN, an
AUC on one class) is ``null``, never the ``NaN`` token that JSON parsers reject.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

import orjson

from models.contract import finite
from streams.settings import Settings

__all__ = [
    "EventKind",
    "ModelEvent",
    "apply_event",
    "champion_event",
    "finite",
    "publish_event",
    "read_events",
]

_log = logging.getLogger(__name__)

EventKind = Literal["promoted", "rolled_back", "shadow", "discarded", "registered"]
CHAMPION_CHANGES: frozenset[str] = frozenset({"promoted", "rolled_back"})


@dataclass
class ModelEvent:
    """One registry decision for one task (see the module docstring for the JSON)."""

    task: str
    event: EventKind
    version: str
    champion: str | None
    parent: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    samples: dict[str, int] = field(default_factory=dict)
    reason: str = ""
    time_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    artifact: bytes | None = None  # tar.gz of the champion's version directory

    def to_json(self) -> bytes:
        """Strict JSON (RFC 8259): a non-finite number (an undefined metric) is ``null``."""
        d = self.summary()
        d["artifact"] = base64.b64encode(self.artifact).decode() if self.artifact else None
        return orjson.dumps(d, option=orjson.OPT_SERIALIZE_NUMPY, default=_plain_number)

    @classmethod
    def from_json(cls, raw: bytes) -> ModelEvent:
        """Parse and validate a record value; raises ``ValueError`` naming what is wrong
        (unparseable JSON, a missing field, a task, event kind or version name that the
        registry would not write)."""
        from models.errors import RegistryError
        from models.registry import check_task, check_version

        try:
            d = json.loads(raw)
            art = d.get("artifact")
            event = cls(
                task=check_task(d["task"]),
                event=d["event"],
                version=check_version(d["version"]),
                champion=None if d["champion"] is None else check_version(d["champion"]),
                parent=None if d.get("parent") is None else check_version(d["parent"]),
                metrics=d.get("metrics") or {},
                samples=d.get("samples") or {},
                reason=d.get("reason", ""),
                time_ms=int(d.get("time_ms", 0)),
                artifact=base64.b64decode(art, validate=True) if art else None,
            )
            if event.event not in get_args(EventKind):
                raise ValueError(f"event: expected one of {get_args(EventKind)}")
            return event
        except (KeyError, TypeError, ValueError, AttributeError, RegistryError) as exc:
            raise ValueError(
                f"model event: expected JSON with task, event, version, champion as the "
                f"registry writes them; got {raw[:200]!r} ({exc})"
            ) from exc

    def summary(self) -> dict[str, Any]:
        """The event without its artifact (what the registry's decision log keeps), with
        non-finite numbers as ``None``."""
        d = asdict(self)
        d.pop("artifact")
        return finite(d)


def _plain_number(value: Any) -> Any:
    """orjson's fallback for types it does not know (a Decimal, a NumPy scalar it skips)."""
    number = float(value)
    return number if math.isfinite(number) else None


def champion_event(registry, task: str, event: EventKind, version: str, **extra: Any) -> ModelEvent:
    """A :class:`ModelEvent` for ``task`` as the registry stands now, carrying the current
    champion's files when ``event`` changes the champion."""
    champ = registry.champion(task)
    info = registry.get(task, version)
    artifact = None
    if event in CHAMPION_CHANGES and champ is not None:
        artifact = registry.export_version(task, champ.version)
    return ModelEvent(
        task=task,
        event=event,
        version=version,
        parent=info.parent,
        champion=None if champ is None else champ.version,
        artifact=artifact,
        **extra,
    )


def publish_event(settings: Settings, event: ModelEvent, bootstrap: str | None = None) -> None:
    """Record ``event`` in the registry's decision log and produce it (keyed by task) to the
    model-events topic, waiting for the broker's ack. Raises ``KafkaSetupError`` when it is
    not delivered."""
    from models.registry import ModelRegistry
    from streams.errors import KafkaSetupError
    from streams.kafka import resolve_bootstrap
    from streams.kafka.clients import make_producer
    from streams.topics import topic_name

    ModelRegistry.from_settings(settings).record_decision(event.task, event.summary())
    producer = make_producer(bootstrap or resolve_bootstrap(settings), settings=settings)
    errors: list[str] = []
    producer.produce(
        topic_name(settings, "model-events"),
        key=event.task.encode(),
        value=event.to_json(),
        on_delivery=lambda err, _m: errors.append(str(err)) if err is not None else None,
    )
    left = producer.flush(30.0)
    if left or errors:
        raise KafkaSetupError(
            f"publishing model event {event.task} {event.event} {event.version}: expected "
            f"delivery, got {left} undelivered, errors {errors}"
        )


def read_events(
    settings: Settings,
    bootstrap: str,
    *,
    follow: Callable[[], bool] | None = None,
    poll_s: float = 0.5,
) -> Iterator[ModelEvent | None]:
    """Model events from the start of the (one-partition) topic. Yields ``None`` once when the
    end as of the call is reached (everything before it has been yielded); with ``follow``,
    keeps yielding new events while ``follow()`` is true, else stops there.

    Reads without a consumer group: every worker must see every event. A record that does not
    parse or is not valid (see :meth:`ModelEvent.from_json`) is refused: logged and skipped.
    """
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    from streams.kafka.clients import make_consumer, watermarks
    from streams.topics import topic_name

    topic = topic_name(settings, "model-events")
    consumer = make_consumer(
        bootstrap, settings=settings, **{"fetch.message.max.bytes": 16 * 1024 * 1024}
    )
    try:
        _low, high = watermarks(consumer, TopicPartition(topic, 0), time.monotonic() + 30)
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        caught_up = high <= 0
        if caught_up:
            yield None
            if follow is None:
                return
        while follow is None or follow() or not caught_up:
            msg = consumer.poll(poll_s)
            if msg is None or msg.error() is not None:
                if not caught_up and _at_end(consumer, topic, high):
                    caught_up = True
                    yield None
                    if follow is None:
                        return
                continue
            try:
                yield ModelEvent.from_json(msg.value())
            except ValueError as exc:
                _log.error("refused model event at offset %s: %s", msg.offset(), exc)
            if not caught_up and msg.offset() + 1 >= high:
                caught_up = True
                yield None
                if follow is None:
                    return
    finally:
        consumer.close()


def _at_end(consumer, topic: str, high: int) -> bool:
    """Whether the consumer's position is at ``high`` (records below it may be compacted away
    or be transaction markers, so the last offset read need not be ``high - 1``)."""
    from confluent_kafka import TopicPartition

    pos = consumer.position([TopicPartition(topic, 0)])[0].offset
    return pos >= high


def apply_event(registry, event: ModelEvent) -> bool:
    """Bring the local ``registry`` in line with ``event``: install the champion it carries if
    missing, then make it champion. Returns whether the local champion changed (the worker
    must then reload its models). Events that change no champion only install nothing.

    Raises :class:`~models.errors.RegistryError` for names the registry does not write (an
    event built in code, not read through :meth:`ModelEvent.from_json`) and for an unsafe or
    oversized archive; nothing is installed then."""
    if event.event not in CHAMPION_CHANGES or event.champion is None:
        return False
    from models.registry import check_task, check_version

    check_task(event.task)
    check_version(event.champion)
    have = {v.version for v in registry.versions(event.task)}
    if event.champion not in have:
        if event.artifact is None:
            _log.error(
                "model event %s %s: champion %s is not in %s and the event carries no files",
                event.task,
                event.event,
                event.champion,
                registry.root,
            )
            return False
        registry.import_version(event.task, event.champion, event.artifact)
    return registry.make_champion(event.task, event.champion)
