"""The scoring path's output side: one producer per worker process, and how its writes commit.

Exactly-once (KIP-447, "exactly-once v2"): one transactional producer per worker process. A
transaction holds everything the batches since the last commit produced (scores, score
batches, feature snapshots, dead letters, their window-state changelog) and the offsets of
their input records, sent with the consumer's group metadata, so the broker refuses them from a
zombie whose partitions moved to another member. :meth:`Outbox.commit` is the protocol, and
the order matters:

1. produce the changelog records of the window state staged since the last commit;
2. ``send_offsets_to_transaction(offsets, group metadata)``;
3. ``commit_transaction()``, which first flushes every record of the transaction; if any
   delivery failed, it fails and nothing of the transaction becomes visible.

Any error aborts the transaction (the caller rewinds its consumer to the committed offsets and
drops the staged state). A zombie (a worker frozen until its partitions moved) has its offsets
refused, or finds its producer fenced because the coordinator timed its transaction out: it
aborts, replaces its producer, rewinds, and its consumer learns that its partitions are gone;
nothing it scored meanwhile is committed. A producer fenced again and again (another process
with the same transactional id) raises :class:`Fenced` and the worker stops.

At-least-once: the same producer without a transaction; a commit flushes every record (a
failed delivery raises :class:`CommitFailed`, and the caller rewinds) and only then commits the
offsets with the consumer.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable

from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition

from streams.kafka.clients import make_producer
from streams.settings import Settings
from streams.topics import MAX_MESSAGE_BYTES

__all__ = ["CommitFailed", "Fenced", "Outbox"]

_log = logging.getLogger(__name__)

TRANSACTION_TIMEOUT_MS = 10_000
"""The coordinator aborts a transaction left open this long (a frozen or killed worker's), so
read_committed readers of its output partitions wait at most this long (Kafka Streams' value)."""


STUCK_GRACE_S = 5.0
"""How long past its own timeout a transactional call may take before it counts as stuck."""

INIT_TIMEOUT_S = 600.0
"""How long a new transactional producer keeps trying to reach its coordinator."""

FENCES_BEFORE_STOP = 3
FENCE_WINDOW_S = 60.0
"""A producer fenced this many times within this many seconds stops the worker."""


class CommitFailed(RuntimeError):
    """A commit did not happen; the open transaction (if any) was aborted: rewind and redo."""


class Fenced(RuntimeError):
    """Another producer with this worker's transactional id took over: stop scoring."""


class Outbox:
    """Sends a worker's results and commits them with their input offsets (see the module doc).

    ``transactional_id`` set: exactly-once; ``None``: at-least-once.
    """

    def __init__(
        self,
        bootstrap: str,
        transactional_id: str | None,
        client_config: dict | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.transactional = transactional_id is not None
        self._settings = settings
        self._bootstrap = bootstrap
        self._tid = transactional_id
        self._extra = client_config or {}
        self._failed: KafkaError | None = None
        self._in_transaction = False
        self._fences: list[float] = []
        self._producer = self._make()

    def _make(self) -> Producer:
        config = {
            "linger.ms": 5,
            "batch.size": 4_000_000,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 2_000_000,
            "queue.buffering.max.kbytes": 2_097_152,
            "message.max.bytes": MAX_MESSAGE_BYTES,  # the largest record any topic takes
            "delivery.report.only.error": True,
            "on_delivery": self._delivered,
            **self._extra,
        }
        if self._tid is not None:
            config["transactional.id"] = self._tid
            config["transaction.timeout.ms"] = TRANSACTION_TIMEOUT_MS
        producer = make_producer(self._bootstrap, settings=self._settings, **config)
        if self._tid is None:
            return producer
        # Retried while the brokers do not answer: a worker rides out an outage.
        deadline = time.monotonic() + INIT_TIMEOUT_S
        while True:
            try:
                producer.init_transactions(30)
                return producer
            except KafkaException as exc:
                err = exc.args[0]
                if not err.retriable() or time.monotonic() > deadline:
                    raise
                _log.warning("initialising transactions: %s; retrying", err)

    def _delivered(self, err: KafkaError | None, msg) -> None:
        if err is not None and self._failed is None:
            self._failed = err
            _log.error(
                "a record for %s [%s] was not delivered: %s", msg.topic(), msg.partition(), err
            )

    # --- sending -----------------------------------------------------------------------------

    def begin(self) -> None:
        """Open a transaction if none is (exactly-once); a no-op at-least-once. Raises
        :class:`CommitFailed` (the producer replaced) when the producer has failed for good."""
        if self.transactional and not self._in_transaction:
            try:
                self._producer.begin_transaction()
            except KafkaException as exc:
                self._handle(exc.args[0], "beginning a transaction")
            self._in_transaction = True

    @property
    def open(self) -> bool:
        return self._in_transaction

    def send(self, topic: str, partition: int, pairs: Iterable[tuple[bytes | None, bytes]]) -> int:
        """Queue (key, value) records for ``topic``'s ``partition``; returns how many.

        A producer that failed for good refuses records as they are queued (a worker frozen
        until the coordinator timed its transaction out finds it fenced when it resumes): that
        raises :class:`CommitFailed` with the producer replaced and the transaction gone, so the
        caller rewinds and scores those records again, as after a failed commit."""
        produce = self._producer.produce
        n = 0
        try:
            for key, value in pairs:
                try:
                    produce(topic, value, key, partition)
                except BufferError:  # the local queue is full: let librdkafka send, then go on
                    self._producer.poll(0.05)
                    produce(topic, value, key, partition)
                n += 1
            self._producer.poll(0)
        except KafkaException as exc:
            self._handle(exc.args[0], f"producing to {topic}[{partition}]")
        return n

    def send_values(self, topic: str, partition: int, values: Iterable[bytes]) -> int:
        return self.send(topic, partition, ((None, v) for v in values))

    # --- committing --------------------------------------------------------------------------

    def commit(
        self,
        offsets: dict[tuple[str, int], int],
        group_metadata: Callable[[], object],
        commit_offsets: Callable[[dict[tuple[str, int], int]], None],
        timeout_s: float = 30.0,
    ) -> None:
        """Make everything sent since the last commit durable together with ``offsets``.

        ``group_metadata`` gives the consumer's group metadata (exactly-once);
        ``commit_offsets`` commits offsets with the consumer (at-least-once). Raises
        :class:`CommitFailed` after aborting, or :class:`Fenced`.
        """
        if self.transactional:
            self._commit_transaction(offsets, group_metadata, timeout_s)
        else:
            self._flush_then_commit(offsets, commit_offsets, timeout_s)

    def _commit_transaction(self, offsets, group_metadata, timeout_s: float) -> None:
        if not self._in_transaction:
            return
        try:
            # Step 2: the offsets, with the group generation that fences zombies.
            if offsets:
                producer = self._producer
                self._bounded(
                    "sending the offsets to the transaction",
                    lambda: producer.send_offsets_to_transaction(
                        _topic_partitions(offsets), group_metadata(), timeout_s
                    ),
                    timeout_s,
                )
            # Step 3: flush everything, then commit (retried while the error says so).
            deadline = time.monotonic() + 3 * timeout_s
            while True:
                try:
                    producer = self._producer
                    self._bounded(
                        "committing the transaction",
                        lambda p=producer: p.commit_transaction(timeout_s),
                        timeout_s,
                    )
                    break
                except KafkaException as exc:
                    err = exc.args[0]
                    if err.retriable() and time.monotonic() < deadline:
                        _log.warning("committing the transaction: %s; retrying", err)
                        continue
                    raise
            self._in_transaction = False
            self._failed = None
        except KafkaException as exc:
            self._handle(exc.args[0], "committing the transaction")

    def _bounded(self, doing: str, call: Callable[[], object], timeout_s: float) -> None:
        """Run a transactional call, and give up on it ``timeout_s`` + a grace after.

        librdkafka 2.x can block in ``send_offsets_to_transaction`` (and the commit after it)
        far past its timeout once a broker it cached as coordinator was dropped from the
        metadata, as a broker restart does (confluentinc/librdkafka#5456, #5511). A call that
        does not return in time leaves this producer unusable (one transactional call at a
        time): it is replaced by a new one with the same transactional id, whose
        initialisation fences the stuck one and aborts its transaction, and the commit fails
        (:class:`CommitFailed`: the caller rewinds and scores those records again).
        """
        done = threading.Event()
        outcome: list[BaseException] = []

        def run() -> None:
            try:
                call()
            except BaseException as exc:
                outcome.append(exc)
            finally:
                done.set()

        threading.Thread(target=run, name="txn-call", daemon=True).start()
        if not done.wait(timeout_s + STUCK_GRACE_S):
            _log.warning(
                "%s did not return within %.0f s (librdkafka#5456); replacing the producer",
                doing,
                timeout_s + STUCK_GRACE_S,
            )
            self._in_transaction = False
            self._producer = self._make()  # the stuck one is left to its thread, fenced
            self._failed = None
            raise CommitFailed(f"{doing}: no answer within {timeout_s + STUCK_GRACE_S:.0f} s")
        if outcome:
            raise outcome[0]

    def _flush_then_commit(self, offsets, commit_offsets, timeout_s: float) -> None:
        deadline = time.monotonic() + 3 * timeout_s
        while self._producer.flush(timeout_s) > 0:
            if time.monotonic() > deadline:
                raise CommitFailed("records not delivered within the commit timeout")
        if self._failed is not None:
            err, self._failed = self._failed, None
            raise CommitFailed(f"a record was not delivered: {err}")
        if offsets:
            try:
                commit_offsets(offsets)
            except KafkaException as exc:
                raise CommitFailed(f"committing offsets failed: {exc.args[0]}") from exc

    def abort(self, why: str) -> None:
        """Abort the open transaction (exactly-once); drop what is still queued otherwise."""
        self._failed = None
        if not self.transactional:
            self._producer.purge()
            return
        if not self._in_transaction:
            return
        _log.warning("aborting the transaction: %s", why)
        try:
            producer = self._producer
            self._bounded("aborting the transaction", lambda: producer.abort_transaction(30), 30)
        except CommitFailed:
            pass  # replaced: the new producer's initialisation aborted the transaction
        except KafkaException as exc:  # e.g. the broker is away: a new producer aborts it
            _log.warning("aborting the transaction failed: %s; replacing the producer", exc)
            self._replace(exc.args[0])
        self._in_transaction = False

    def _handle(self, err: KafkaError, doing: str) -> None:
        if err.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED):
            # The coordinator bumped the epoch (it timed this transaction out while the worker
            # was frozen), or another process uses the same transactional id. The first heals
            # with a new producer; the second fences back and forth: stop then.
            now = time.monotonic()
            self._fences = [t for t in self._fences if now - t < FENCE_WINDOW_S] + [now]
            if len(self._fences) >= FENCES_BEFORE_STOP:
                self._in_transaction = False
                raise Fenced(
                    f"{doing}: this worker's producer was fenced {len(self._fences)} times in "
                    f"{FENCE_WINDOW_S:.0f} s ({err}); another process uses transactional id "
                    f"{self._tid} (two workers sharing one state directory slot?)"
                )
        if err.fatal() or err.code() == KafkaError._FATAL:
            # e.g. the coordinator timed the transaction out while the broker was away: a new
            # producer with the same id bumps the epoch and aborts whatever was left open.
            self._in_transaction = False
            self._replace(err)
            raise CommitFailed(f"{doing}: {err} (producer replaced)")
        self.abort(f"{doing}: {err}")
        raise CommitFailed(f"{doing}: {err}")

    def _replace(self, err: KafkaError) -> None:
        _log.warning("replacing the transactional producer after a fatal error: %s", err)
        with contextlib.suppress(Exception):  # it is being thrown away
            self._producer.purge()
        self._in_transaction = False
        self._failed = None
        self._producer = self._make()

    def close(self, timeout_s: float = 30.0) -> None:
        if self._in_transaction:
            self.abort("the worker stops")
        self._producer.flush(timeout_s)


def _topic_partitions(offsets: dict[tuple[str, int], int]) -> list[TopicPartition]:
    return [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
