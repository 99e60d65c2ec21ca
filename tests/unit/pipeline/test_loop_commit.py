"""A commit whose producer fails for good while it sends the window-state changelog fails that
commit (the records are scored again), not the worker.

Found by the frozen-worker test (tests/integration/test_faults.py) in a clean-clone run: the
thawed worker's fenced producer failed on its changelog record, which the loop sent before the
part of the commit that handles ``CommitFailed``, so the worker exited 70 instead of
rejoining."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from confluent_kafka import KafkaError, KafkaException, TopicPartition

import streams.pipeline.loop as loop_module
from streams.pipeline.loop import ScoringLoop
from streams.pipeline.transactions import CommitFailed


class FencedOutbox:
    open = True

    def __init__(self) -> None:
        self.committed = False

    def send(self, topic, partition, records) -> None:
        raise CommitFailed(f"producing to {topic}[{partition}]: fatal error (producer replaced)")

    def commit(self, *args) -> None:
        self.committed = True


class StagedState:
    def __init__(self) -> None:
        self.discarded = self.applied = False

    def changelog_records(self) -> dict[int, list]:
        return {0: [b"window row"]}

    def discard(self) -> None:
        self.discarded = True

    def apply(self, checkpoints) -> None:
        self.applied = True


def test_a_producer_failing_on_the_changelog_rewinds_instead_of_stopping_the_worker():
    loop = ScoringLoop.__new__(ScoringLoop)  # only what _commit touches
    loop.config = SimpleNamespace(outputs={"changelog": "app-windows-changelog"})
    loop.outbox, loop.state = FencedOutbox(), StagedState()
    loop._offsets = {("activity", 0): 42}
    rewound = []
    loop.consumer = SimpleNamespace(rewind=lambda timeout_s: rewound.append(True))
    loop._rewind_due, loop._rewind_tries = False, 0

    loop._commit()  # raised CommitFailed out of the loop before

    assert loop._rewind_due and loop.state.discarded and not loop.state.applied
    assert loop._rewound() and rewound == [True] and not loop._rewind_due
    assert not loop.outbox.committed and loop._offsets == {}


class OutOfTheGroupConsumer:
    """librdkafka after an outage that outlasted the session: the committed offsets cannot be
    read until ``consume`` has run the lost-partitions callback (found by the broker-outage
    test in a clean-clone run: a loop that retried ``committed()`` without serving the
    consumer waited for ten minutes with the broker back)."""

    def __init__(self, loop: ScoringLoop) -> None:
        self.loop, self.assigned, self.served, self.taken = loop, [("activity", 0)], 0.0, 0

    def rewind(self, timeout_s: float) -> None:
        if self.assigned:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "Failed to get committed"))

    def serve(self, seconds: float) -> int:
        self.served += seconds
        lost, self.assigned = self.assigned, []
        self.loop._lost(lost)
        return 500

    def take(self, max_records: int, wait_s: float) -> list:
        self.taken += 1
        return []


def test_a_rewind_the_broker_cannot_answer_yet_serves_the_consumer_between_tries(caplog):
    caplog.set_level(logging.DEBUG, logger=loop_module.__name__)
    loop = ScoringLoop.__new__(ScoringLoop)
    loop.settings = SimpleNamespace(batch_max=100, commit_interval_s=1.0)
    loop._offsets, loop._rewind_due, loop._rewind_tries, loop._lost_at = {}, False, 0, None
    lost = []
    loop._lost = lost.extend
    loop.consumer = consumer = OutOfTheGroupConsumer(loop)

    loop._rewind()
    loop.turn()  # the first try fails: the consumer is served, no batch is taken
    assert loop._rewind_due and consumer.served > 0 and lost == [("activity", 0)]
    assert consumer.taken == 0
    assert "dropped 500 records served while waiting to rewind" in caplog.text
    loop.turn()  # served: out of the group, nothing assigned, nothing to seek
    assert not loop._rewind_due and consumer.taken == 1


class NeverRejoins:
    """librdkafka in clean-clone runs after a broker outage: the lost-partitions callback ran,
    then the consumer never joined the group again (no partitions, ever)."""

    def __init__(self) -> None:
        self.abandoned, self.taken = False, 0

    def take(self, max_records: int, wait_s: float) -> list:
        self.taken += 1
        return []

    def assignment(self) -> list:
        return []

    def abandon(self) -> None:
        self.abandoned = True


def test_a_consumer_that_lost_its_partitions_and_never_rejoins_is_replaced(monkeypatch):
    loop = ScoringLoop.__new__(ScoringLoop)
    loop.settings = SimpleNamespace(batch_max=100, commit_interval_s=1.0)
    loop._offsets, loop._rewind_due, loop._rewind_tries = {}, False, 0
    loop.outbox = SimpleNamespace(open=False, abort=lambda why: None)
    loop.state = SimpleNamespace(discard=lambda: None, revoke=lambda gone: None,
                                 assign=lambda partitions: None)  # fmt: skip
    stuck, fresh = NeverRejoins(), NeverRejoins()
    loop.consumer = stuck
    loop._new_consumer = lambda: fresh
    loop._lost_at = None

    loop._lost([TopicPartition("activity", 0)])
    loop.turn()  # just lost: librdkafka is given time to rejoin
    assert loop.consumer is stuck and stuck.taken == 1
    monkeypatch.setattr(loop_module.time, "monotonic", lambda: loop._lost_at + 61.0)
    loop.turn()
    assert loop.consumer is fresh and stuck.abandoned and fresh.taken == 1
    loop._assigned([])  # joined, even with nothing to own: no more replacing
    assert loop._lost_at is None
