"""confluent-kafka clients configured the way every streamscore tool needs them.

Every confluent-kafka client in streamscore is built here, with ``settings`` so that the Kafka
security settings (TLS, SASL; see :mod:`streams.kafka_security`) apply. A client built with
security settings turns an authentication or TLS failure, which librdkafka would only log and
retry forever, into a :class:`~streams.errors.KafkaAuthError` raised from the call that polls
it (``poll``, ``consume``, ``flush``, a metadata request), naming the setting to fix.
"""

from __future__ import annotations

import collections
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from streams.errors import KafkaAuthError
from streams.kafka_security import kafka_security, librdkafka_config
from streams.topics import MAX_MESSAGE_BYTES

if TYPE_CHECKING:
    from streams.settings import Settings

__all__ = [
    "TimeAligned",
    "auth_error",
    "check_credentials",
    "list_metadata",
    "make_admin",
    "make_consumer",
    "make_producer",
    "read_topic",
    "security_config",
    "watermarks",
]

_AUTH_CODES = frozenset({KafkaError._AUTHENTICATION, KafkaError._SSL})
_PASSING = frozenset({
    KafkaError.NOT_LEADER_FOR_PARTITION,  # the leader moved, or a new topic's is being elected
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,  # a topic just created, not yet in the metadata
    KafkaError.FENCED_LEADER_EPOCH,
    KafkaError.UNKNOWN_LEADER_EPOCH,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError._TIMED_OUT,
    KafkaError._TRANSPORT,
})  # fmt: skip
"""Broker answers to a watermark query that pass by themselves: asked again, not fatal."""
_LIBRDKAFKA_LOG = logging.getLogger("streamscore.kafka.librdkafka")
_LOG = logging.getLogger(__name__)


def auth_error(settings: Settings | None, error: KafkaError) -> KafkaAuthError | None:
    """A :class:`KafkaAuthError` naming the settings to check, if ``error`` is an
    authentication or TLS failure (``None`` otherwise)."""
    if error.code() not in _AUTH_CODES:
        return None
    user = kafka_security(settings).username if settings is not None else None
    if error.code() == KafkaError._SSL:
        what = "a TLS connection to Kafka"
        fix = (
            "check STREAMSCORE_KAFKA_SSL_CA_LOCATION (the CA that signed the brokers' "
            "certificates), STREAMSCORE_KAFKA_SSL_CERTFILE/KEYFILE, and that the bootstrap "
            "servers are the cluster's TLS listeners"
        )
    else:
        what = f"Kafka authentication of user {user}"
        fix = (
            "check STREAMSCORE_KAFKA_SASL_PASSWORD (and STREAMSCORE_KAFKA_SASL_USERNAME, "
            "STREAMSCORE_KAFKA_SASL_MECHANISM), or sasl.* in STREAMSCORE_KAFKA_PROPERTIES"
        )
    return KafkaAuthError(f"{what}: expected the broker to accept it, got {error.str()}; {fix}")


def security_config(settings: Settings | None) -> dict[str, object]:
    """librdkafka keys for ``settings``' security, plus an ``error_cb`` that raises
    :class:`KafkaAuthError` on an authentication or TLS failure, and librdkafka's log lines
    routed to Python logging (served by the client's polls, so a client that gave up on
    refused credentials does not go on printing them). Empty without settings or with plain
    PLAINTEXT, so such clients are built exactly as before."""
    if settings is None:
        return {}
    config: dict[str, object] = dict(librdkafka_config(settings))
    if config:
        config["error_cb"] = _raise_auth_errors(settings)
        config["logger"] = _LIBRDKAFKA_LOG
    return config


def _raise_auth_errors(settings: Settings) -> Callable[[KafkaError], None]:
    def on_error(error: KafkaError) -> None:
        exc = auth_error(settings, error)
        if exc is not None:
            raise exc

    return on_error


def make_admin(bootstrap: str, settings: Settings | None = None, **config: object) -> AdminClient:
    """An AdminClient with ``settings``' security applied."""
    return AdminClient({"bootstrap.servers": bootstrap, **security_config(settings), **config})


def list_metadata(
    client: AdminClient | Consumer | Producer, settings: Settings | None, timeout_s: float
):
    """``client.list_topics()``, raising :class:`KafkaAuthError` (instead of a transport
    timeout) as soon as the broker refuses our credentials.

    librdkafka reports an authentication failure only through the error callback, which an
    AdminClient serves in ``poll``: the metadata request is retried in short steps, polling
    the admin client between them.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        step = max(0.05, min(1.0, deadline - time.monotonic()))
        try:
            return client.list_topics(timeout=step)
        except KafkaException as exc:
            err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            found = auth_error(settings, err) if err is not None else None
            if found is not None:
                raise found from exc
            if isinstance(client, AdminClient):
                client.poll(0)  # serves the error callback, which raises KafkaAuthError
            if time.monotonic() >= deadline:
                raise


def watermarks(
    consumer: Consumer, tp: TopicPartition, deadline: float, timeout_s: float = 30.0
) -> tuple[int, int]:
    """(low, high) watermark of ``tp``, each try waiting up to ``timeout_s``; asked again every
    0.2 s while the broker's answer is one that passes (:data:`_PASSING`: a leader moving or
    being elected, a topic not yet in the metadata, a timeout) and ``deadline`` (monotonic) is
    ahead. Found by a clean-clone run: a worker exited on ``NOT_LEADER_FOR_PARTITION`` while it
    restored a changelog partition that had just been created."""
    while True:
        try:
            return consumer.get_watermark_offsets(tp, timeout=timeout_s)
        except KafkaException as exc:
            err = exc.args[0]
            if err.code() not in _PASSING or time.monotonic() > deadline:
                raise
            _LOG.info("watermarks of %s [%d]: %s; asking again", tp.topic, tp.partition, err)
            time.sleep(0.2)


def check_credentials(bootstrap: str, settings: Settings, timeout_s: float = 15.0) -> None:
    """Raise :class:`KafkaAuthError` if the cluster refuses ``settings``' credentials. A
    cluster that does not answer (yet) is not an error here: long-running clients wait for it."""
    if not settings.kafka_security_configured:
        return
    try:
        list_metadata(make_admin(bootstrap, settings), settings, timeout_s)
    except KafkaException:
        return


def make_producer(
    bootstrap: str, *, settings: Settings | None = None, **config: object
) -> Producer:
    """An idempotent producer with Kafka's default (murmur2) partitioner for keyed records,
    with ``settings``' security applied."""
    base = {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "linger.ms": 5,
        "batch.size": 1_000_000,
        "compression.type": "lz4",
        "partitioner": "murmur2_random",  # the Java/Faust partitioner: same key, same partition
        "queue.buffering.max.messages": 1_000_000,
        "message.max.bytes": MAX_MESSAGE_BYTES,  # Arrow batches, dead letters: see streams.topics
    }
    base.update(security_config(settings))
    base.update(config)
    return Producer(base)


def make_consumer(
    bootstrap: str,
    group: str | None = None,
    *,
    settings: Settings | None = None,
    **config: object,
) -> Consumer:
    """A read_committed consumer that starts at the earliest offset and commits nothing, with
    ``settings``' security applied."""
    base = {
        "bootstrap.servers": bootstrap,
        "group.id": group or f"streamscore-tool-{uuid.uuid4().hex[:12]}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
    }
    base.update(security_config(settings))
    base.update(config)
    return Consumer(base)


def read_topic(
    bootstrap: str,
    topic: str,
    *,
    settings: Settings | None = None,
    max_records: int | None = None,
    idle_s: float = 5.0,
    from_beginning: bool = True,
    follow: bool = False,
) -> Iterator[Message]:
    """Yield committed records of ``topic``; stop after ``max_records`` or ``idle_s`` without one.

    With ``follow``, keep waiting for new records instead of stopping when idle.
    """
    consumer = make_consumer(
        bootstrap,
        settings=settings,
        **({} if from_beginning else {"auto.offset.reset": "latest"}),
    )
    consumer.subscribe([topic])
    seen = 0
    last = time.monotonic()
    try:
        while max_records is None or seen < max_records:
            batch = consumer.consume(1000, timeout=0.5)
            if not batch:
                if not follow and time.monotonic() - last > idle_s:
                    return
                continue
            last = time.monotonic()
            for msg in batch:
                if msg.error() is not None:
                    continue
                yield msg
                seen += 1
                if max_records is not None and seen >= max_records:
                    return
    finally:
        consumer.close()


class TimeAligned:
    """Records of several partitions of a topic, handed on in the order of their timestamps.

    A consumer that starts behind gets a topic's partitions in chunks, one partition's
    backlog after another's (for feature snapshots: a whole partition's first days, then the
    next partition's). A reader that treats arrival order as stream order (the drift
    monitor's warm-up and reference windows, the collector's "oldest rows" cut) then sees time
    jump back and forth. Like Kafka Streams picking the partition whose next record is the
    oldest, :meth:`release` hands on the buffered record with the smallest timestamp, and only
    once every partition has a record buffered or is known to be at its end (the consumer's
    ``enable.partition.eof``); a partition that stays silent for ``max_idle_s`` without being
    at its end stops holding the others back (as Kafka Streams' ``max.task.idle.ms``).
    """

    def __init__(self, partitions: Iterable[int], max_idle_s: float = 2.0) -> None:
        self._queues: dict[int, collections.deque] = {p: collections.deque() for p in partitions}
        self._at_end = dict.fromkeys(self._queues, False)
        self._max_idle_s = max_idle_s
        self._held_since: float | None = None

    def add(self, message: Message) -> None:
        """Buffer a record (its partition is then not known to be at its end)."""
        self._queues[message.partition()].append((message.timestamp()[1], message))
        self._at_end[message.partition()] = False

    def at_end(self, partition: int) -> None:
        """The consumer reached the end of ``partition`` (a ``_PARTITION_EOF`` event)."""
        self._at_end[partition] = True

    def release(self, now: float | None = None) -> list[Message]:
        """The records that can go on now, oldest first."""
        now = time.monotonic() if now is None else now
        out: list[Message] = []
        while True:
            heads = [(q[0][0], p) for p, q in self._queues.items() if q]
            if not heads:
                self._held_since = None
                return out
            silent = any(not q and not self._at_end[p] for p, q in self._queues.items())
            if silent:
                if self._held_since is None:
                    self._held_since = now
                if now - self._held_since < self._max_idle_s:
                    return out
            out.append(self._queues[min(heads)[1]].popleft()[1])
            if not silent:
                self._held_since = None
