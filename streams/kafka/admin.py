"""Topic administration: create the declared topics (:mod:`streams.topics`) on a cluster, list
the cluster's topics."""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from streams.errors import KafkaSetupError
from streams.kafka.clients import list_metadata, make_admin
from streams.settings import Settings
from streams.topics import TOPICS, topic_name

__all__ = ["create_topics", "list_topics"]


def create_topics(
    settings: Settings, bootstrap: str, keys: Iterable[str] | None = None, timeout_s: float = 30.0
) -> dict[str, str]:
    """Create the declared topics that do not exist yet; return ``{name: "created"|"exists"}``.

    A topic that exists with another partition count is reported as ``"exists (N partitions)"``;
    its partitions are not altered. A topic that exists with a lower record limit than declared
    (a deployment older than the declaration) gets the declared ``max.message.bytes``, and says
    so (``"exists, max.message.bytes raised from A to B"``): the dead letter of an input record
    must fit. Limits are only raised, never lowered. Raises :class:`KafkaSetupError` on any
    other broker error.
    """
    specs = [TOPICS[k] for k in (keys if keys is not None else TOPICS)]
    admin = make_admin(bootstrap, settings)
    existing = list_metadata(admin, settings, timeout_s).topics
    result: dict[str, str] = {}
    new: list[NewTopic] = []
    limits: dict[str, int] = {}  # existing topic -> its declared record limit
    for spec in specs:
        name = topic_name(settings, spec.key)
        if name in existing:
            have = len(existing[name].partitions)
            result[name] = "exists" if have == spec.partitions else f"exists ({have} partitions)"
            if spec.max_message_bytes:
                limits[name] = spec.max_message_bytes
        else:
            # -1: the cluster's default.replication.factor (1 on the local broker).
            new.append(NewTopic(name, spec.partitions, -1, config=spec.config()))
    for name, future in admin.create_topics(new, request_timeout=timeout_s).items() if new else ():
        try:
            future.result()
            result[name] = "created"
        except KafkaException as exc:
            if exc.args[0].name() == "TOPIC_ALREADY_EXISTS":  # lost a race with another creator
                result[name] = "exists"
            else:
                raise KafkaSetupError(f"creating topic {name} failed: {exc}") from exc
    for name, (was, now) in _raise_record_limits(admin, limits, timeout_s).items():
        result[name] += f", max.message.bytes raised from {was} to {now}"
    return result


_MAX_MESSAGE_BYTES = "max.message.bytes"


def _raise_record_limits(
    admin: AdminClient, limits: dict[str, int], timeout_s: float
) -> dict[str, tuple[int, int]]:
    """Raise each topic's ``max.message.bytes`` to its entry in ``limits`` where it is lower;
    return ``{name: (was, now)}`` of those raised."""
    if not limits:
        return {}
    try:
        described = admin.describe_configs(
            [ConfigResource(ResourceType.TOPIC, name) for name in limits],
            request_timeout=timeout_s,
        )
        have = {
            resource.name: int(future.result()[_MAX_MESSAGE_BYTES].value)
            for resource, future in described.items()
        }
        low = {name: (have[name], want) for name, want in limits.items() if have[name] < want}
        if not low:
            return {}
        resources = [
            ConfigResource(
                ResourceType.TOPIC,
                name,
                incremental_configs=[
                    ConfigEntry(
                        _MAX_MESSAGE_BYTES,
                        str(want),
                        incremental_operation=AlterConfigOpType.SET,
                    )
                ],
            )
            for name, (_, want) in low.items()
        ]
        for future in admin.incremental_alter_configs(
            resources, request_timeout=timeout_s
        ).values():
            future.result()
    except KafkaException as exc:
        raise KafkaSetupError(
            f"raising the record limits (max.message.bytes) of existing topics to "
            f"{limits} failed: {exc}"
        ) from exc
    return low


def list_topics(
    bootstrap: str, timeout_s: float = 30.0, *, settings: Settings | None = None
) -> dict[str, int]:
    """All non-internal topics on the cluster with their partition counts (``settings``: the
    Kafka security to connect with)."""
    meta = list_metadata(make_admin(bootstrap, settings), settings, timeout_s)
    return {
        name: len(t.partitions)
        for name, t in sorted(meta.topics.items())
        if not name.startswith("__")
    }
