"""Where a batch gets scored: consume a batch, process it, publish it, commit on an interval.

One :class:`ScoringLoop` runs in its own thread of a worker process (see
:mod:`streams.pipeline.worker`), with one consumer (:mod:`.consume`), one producer
(:mod:`.transactions`) and the window state of the partitions it owns (:mod:`.state`). Each turn:

1. take the records librdkafka has queued (up to ``batch_max``; at least one, waiting briefly);
2. for each input topic in the batch: run :class:`~streams.pipeline.processor.BatchProcessor`
   over its records with the window state, queue every result on the producer (inside the open
   transaction), stage the new window state, and note the next offset of each partition;
3. once ``commit_interval_s`` has passed since the transaction began, commit it (results,
   changelog of the staged state, offsets), then write the staged state into the stores.

A failed commit aborts the transaction: the staged state is dropped and the consumer seeks back
to the committed offsets, so those records are scored again into a new transaction. The seek
happens at the start of the next turn, and while the broker cannot say where the committed
offsets are, each turn tries again and serves the consumer in between (the records it fetched
meanwhile are dropped: the seek goes back over them), so a group that dropped this member
during an outage can hand it its partitions again, and a stop is still noticed. So does a
producer that fails for good while results are queued (a worker resumed after its transaction
timed out finds its producer fenced): the producer is replaced and the batch scored again. At a
rebalance the open transaction commits before the partitions are revoked; partitions lost
without a revoke (this worker was frozen past its session timeout) abort it instead. Anything
else that fails inside a batch aborts the transaction and ends the loop with
:class:`ScoringStopped`: the worker exits with that error, and a supervisor restarts it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from streams.errors import StreamscoreError
from streams.etl import topic_kind_of
from streams.kafka.clients import auth_error, make_consumer
from streams.kafka.logs import OutageLog
from streams.pipeline import telemetry
from streams.pipeline.consume import BatchConsumer, next_offsets, to_records
from streams.pipeline.processor import BatchProcessor
from streams.pipeline.records import BatchOutput
from streams.pipeline.snapshots import SnapshotPolicy
from streams.pipeline.state import WindowState
from streams.pipeline.transactions import CommitFailed, Fenced, Outbox
from streams.scoring import ModelSet
from streams.settings import Settings

__all__ = ["LoopConfig", "ScoringLoop", "ScoringStopped"]

_log = logging.getLogger(__name__)

CHECKPOINT_INTERVAL_S = 30.0
"""How often the window-state stores record the changelog offset they cover (after a commit)."""

IDLE_WAIT_S = 0.05
"""Longest a turn waits for a first record when none is queued (the stop flag's latency)."""

REWIND_TIMEOUT_S = 10.0
"""How long one try at reading the committed offsets waits for the group coordinator."""

REWIND_RETRY_S = (0.5, 5.0)
"""First and longest wait between two tries at rewinding, spent serving the consumer."""

REJOIN_AFTER_S = 60.0
"""A consumer that lost its partitions and has had none assigned for this long is replaced
by a new one, which joins the group afresh: in clean-clone runs, librdkafka's consumer ran
the lost-partitions callback after a broker outage and then never joined again (the
broker's log shows no JoinGroup for nine minutes)."""


class ScoringStopped(StreamscoreError, RuntimeError):
    """The scoring path failed and stopped; the worker must exit (and be restarted)."""


@dataclass(frozen=True)
class LoopConfig:
    """What a scoring loop reads and writes.

    ``inputs`` maps each input topic to its logical key (activity, raw-logs); ``outputs`` maps
    the output keys (scores, score-batches, features, dead-letters, changelog) to topic names.
    """

    bootstrap: str
    group: str
    inputs: dict[str, str]
    outputs: dict[str, str]
    state_dir: Path
    transactional_id: str | None
    client_config: dict | None = None


class ScoringLoop:
    """The scoring path of one worker process (see the module docstring)."""

    def __init__(
        self, settings: Settings, config: LoopConfig, models: Callable[[], ModelSet]
    ) -> None:
        self.settings = settings
        self.config = config
        self._models = models
        self.outage = OutageLog(_log, "scoring")
        # librdkafka's own lines repeat what error_cb reports (see OutageLog): errors only.
        logging.getLogger("librdkafka").setLevel(logging.CRITICAL)
        clients = {
            "error_cb": self._on_kafka_error,
            "logger": logging.getLogger("librdkafka"),
            **(config.client_config or {}),
        }
        self._roles = {
            topic: ("logs" if key == "raw-logs" else "activity")
            for topic, key in config.inputs.items()
        }
        self.state = WindowState(
            config.outputs["changelog"],
            settings.table_store,
            config.state_dir,
            lambda: make_consumer(
                config.bootstrap,
                settings=settings,
                **{"enable.partition.eof": True, **clients},
            ),
        )
        self.outbox = Outbox(config.bootstrap, config.transactional_id, clients, settings)
        self._clients = clients
        self.consumer = self._new_consumer()
        self._lost_at: float | None = None  # partitions lost, none assigned since
        self._offsets: dict[tuple[str, int], int] = {}  # next offsets of the open transaction
        self._began = 0.0
        self._rewind_due = False  # a failed commit's records wait to be scored again
        self._rewind_tries = 0
        self._next_checkpoint = time.monotonic() + CHECKPOINT_INTERVAL_S
        self.batches = 0
        self.snapshots = SnapshotPolicy.parse(settings.snapshots)  # parsed once, not per batch

    def _on_kafka_error(self, err: KafkaError) -> None:
        """librdkafka's error callback: refused credentials stop the worker (naming the setting
        to fix); anything else is an outage or a passing error, logged by :class:`OutageLog`."""
        refused = auth_error(self.settings, err)
        if refused is not None:
            raise refused
        self.outage(err)

    # --- the loop ----------------------------------------------------------------------------

    def run(self, stopping: threading.Event) -> None:
        """Score until ``stopping`` is set; commit what is open, then close. Raises
        :class:`ScoringStopped` when the scoring path fails."""
        try:
            while not stopping.is_set():
                self.turn()
            self._commit()
        except ScoringStopped:
            self._abort("the scoring path failed")
            raise
        except Exception as exc:
            self._abort(f"{type(exc).__name__}: {exc}")
            raise ScoringStopped(f"scoring stopped: {type(exc).__name__}: {exc}") from exc
        finally:
            self._close()

    def turn(self) -> None:
        """One batch (steps 1-2 of the module docstring) and, when due, a commit (step 3)."""
        if self._lost_at is not None and time.monotonic() - self._lost_at > REJOIN_AFTER_S:
            self._rejoin()
        if self._rewind_due and not self._rewound():
            return
        msgs = self.consumer.take(self.settings.batch_max, IDLE_WAIT_S)
        if msgs:
            self.outage.reachable()
            try:
                self.outbox.begin()
                if not self._offsets:
                    self._began = time.monotonic()
                models = self._models()
                for records in to_records(msgs):
                    self._score(models, records)
                    self._offsets.update(next_offsets(records))
            except CommitFailed as exc:  # the producer failed for good and was replaced
                _log.warning("sending failed (%s); scoring those records again", exc)
                self._offsets = {}
                self.state.discard()
                self._rewind()
                return
            self.batches += 1
        if self._offsets and time.monotonic() - self._began >= self.settings.commit_interval_s:
            self._commit()

    def _score(self, models: ModelSet, records) -> None:
        key = self.config.inputs[records.topic]
        proc = BatchProcessor(
            models,
            hosts_from_keys=key == "raw-logs",  # raw-logs records are keyed by host
            topic_kind=topic_kind_of(key),
            dead_letter_max_value_bytes=self.settings.dead_letter_max_value_bytes,
            score_results=self.settings.score_results,
            snapshots=self.snapshots,
        )
        partitions = sorted({int(p) for p in records.partitions.tolist()})
        out = proc.process(records, self.state.reading(partitions))
        started = time.perf_counter()
        self._publish(out)
        telemetry.record_batch(
            self._roles[records.topic],
            records,
            out,
            self.config.outputs,
            time.perf_counter() - started,
        )

    def _publish(self, out: BatchOutput) -> None:
        topics = self.config.outputs
        send, send_values = self.outbox.send, self.outbox.send_values
        for partition, part in out.partitions.items():
            send(topics["dead-letters"], partition, part.dead_letters)
            send(topics["scores"], partition, part.scores)
            send_values(topics["score-batches"], partition, part.score_batches)
            send_values(topics["features"], partition, part.features)
            self.state.stage(partition, part.state_rows)

    # --- commit, abort, rewind ---------------------------------------------------------------

    def _commit(self) -> None:
        """Step 3: changelog of the staged state, offsets, commit; then apply the state."""
        if not self._offsets and not self.outbox.open:
            return
        changelog = self.config.outputs["changelog"]
        offsets, self._offsets = self._offsets, {}
        try:
            # The changelog goes out in the transaction too: a producer that fails for good
            # while sending it (fenced after a freeze) fails this commit, not the worker.
            for partition, records in self.state.changelog_records().items():
                self.outbox.send(changelog, partition, records)
            self.outbox.commit(offsets, self.consumer.group_metadata, self.consumer.commit)
        except CommitFailed as exc:
            _log.warning("commit failed (%s); scoring those records again", exc)
            self.state.discard()
            self._rewind()
            return
        except Fenced as exc:
            raise ScoringStopped(str(exc)) from exc
        self.outage.reachable()
        checkpoints = None
        if time.monotonic() >= self._next_checkpoint:
            checkpoints = self._changelog_ends()
        self.state.apply(checkpoints)

    def _abort(self, why: str) -> None:
        self._offsets = {}
        self.state.discard()
        try:
            self.outbox.abort(why)
        except Exception as exc:
            _log.error("aborting the transaction failed: %s", exc)

    def _rewind(self) -> None:
        """Score the records since the last commit again: seek back to the committed offsets
        before the next batch is taken (see :meth:`_rewound`)."""
        self._rewind_due = True

    def _rewound(self) -> bool:
        """Try the pending rewind once; on failure serve the consumer a while and say so.

        Not a blocking retry: librdkafka runs the group's rebalance callbacks only from
        ``consume``, and a member whose session ran out during an outage waits for its
        lost-partitions callback to run (join state ``wait-unassign-call``), sending no
        heartbeats and not rejoining, until then.
        """
        try:
            self.consumer.rewind(REWIND_TIMEOUT_S)
        except KafkaException as exc:
            self._rewind_tries += 1
            first, longest = REWIND_RETRY_S
            wait = min(longest, first * 2 ** (self._rewind_tries - 1))
            if self._rewind_tries & (self._rewind_tries - 1) == 0:  # 1st, 2nd, 4th, 8th try...
                _log.warning(
                    "rewinding to the committed offsets failed (%d tries): %s; retrying",
                    self._rewind_tries,
                    exc,
                )
            dropped = self.consumer.serve(wait)
            if dropped:
                _log.debug("dropped %d records served while waiting to rewind: read again", dropped)
            return False
        if self._rewind_tries:
            _log.info("rewound to the committed offsets after %d tries", self._rewind_tries + 1)
        self._rewind_due, self._rewind_tries = False, 0
        return True

    def _changelog_ends(self) -> dict[int, int] | None:
        """High watermarks of the owned changelog partitions (only with no transaction open)."""
        self._next_checkpoint = time.monotonic() + CHECKPOINT_INTERVAL_S
        ends = {}
        try:
            for p in self.state.partitions:
                tp = TopicPartition(self.config.outputs["changelog"], p)
                ends[p] = self.consumer.watermarks(tp)[1]
        except KafkaException as exc:
            _log.debug("no checkpoint this time: %s", exc)
            return None
        return ends

    # --- rebalance ---------------------------------------------------------------------------

    def _new_consumer(self) -> BatchConsumer:
        return BatchConsumer(
            self.config.bootstrap,
            self.config.group,
            list(self.config.inputs),
            on_assign=self._assigned,
            on_revoke=self._revoked,
            on_lost=self._lost,
            client_config=self._clients,
            settings=self.settings,
        )

    def _rejoin(self) -> None:
        """Replace a consumer that lost its partitions and never joined again (see
        :data:`REJOIN_AFTER_S`); the old one closes on a thread of its own, unhooked."""
        _log.warning(
            "no partitions assigned %.0f s after losing them: joining the group again with a "
            "new consumer",
            time.monotonic() - (self._lost_at or 0.0),
        )
        old, self.consumer = self.consumer, self._new_consumer()
        self._lost_at = time.monotonic()  # and again later, if this one is stuck too
        self._rewind_due = False  # a new member starts at the committed offsets
        old.abandon()

    def _assigned(self, partitions: list[TopicPartition]) -> None:
        self._lost_at = None
        self.state.assign({tp.partition for tp in partitions})

    def _revoked(self, partitions: list[TopicPartition]) -> None:
        # Eager rebalancing: the group generation is still the old one here, so the open
        # transaction can commit with its offsets before another member reads them.
        self._next_checkpoint = 0.0  # record where the stores are before they close
        self._commit()
        self._drop(partitions)

    def _lost(self, partitions: list[TopicPartition]) -> None:
        self._lost_at = time.monotonic()
        self._abort("partitions lost")
        self._drop(partitions)

    def _drop(self, partitions: list[TopicPartition]) -> None:
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self._offsets = {k: v for k, v in self._offsets.items() if k not in gone}
        still = {
            tp.partition
            for tp in self.consumer.assignment()
            if (tp.topic, tp.partition) not in gone
        }
        self.state.revoke({p for _, p in gone} - still)

    def _close(self) -> None:
        try:
            self.consumer.close()
        except Exception as exc:
            _log.warning("closing the consumer: %s", exc)
        try:
            self.outbox.close()
        finally:
            self.state.close()
