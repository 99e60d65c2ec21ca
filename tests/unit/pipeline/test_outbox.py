"""The outbox when its producer fails for good while results are being queued.

A worker frozen until the coordinator timed its transaction out finds its producer fenced when
it resumes, and librdkafka then refuses records as they are queued (``Unable to produce
message: Local: Fatal error``). That must replace the producer and fail the batch like a failed
commit (the loop rewinds and scores it again), not end the worker. The producers here are
stand-ins that raise what librdkafka raises; the whole path runs on a broker in
tests/integration/test_faults.py (the frozen worker).
"""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from streams.pipeline import transactions
from streams.pipeline.transactions import CommitFailed, Outbox


class FakeProducer:
    def __init__(self, fail_produce: KafkaError | None = None, fail_begin=None) -> None:
        self.fail_produce, self.fail_begin = fail_produce, fail_begin
        self.sent: list[tuple] = []
        self.calls: list[str] = []

    def begin_transaction(self) -> None:
        self.calls.append("begin")
        if self.fail_begin is not None:
            raise KafkaException(self.fail_begin)

    def produce(self, topic, value, key, partition) -> None:
        if self.fail_produce is not None:
            raise KafkaException(self.fail_produce)
        self.sent.append((topic, partition, key, value))

    def poll(self, timeout) -> int:
        return 0

    def abort_transaction(self, timeout) -> None:
        self.calls.append("abort")

    def purge(self) -> None:
        self.calls.append("purge")


FATAL = KafkaError(KafkaError._FATAL, "Unable to produce message: Local: Fatal error")
FENCED = KafkaError(KafkaError._FENCED, "This instance has been fenced", fatal=True)


@pytest.fixture
def producers(monkeypatch):
    """The producers an outbox makes, in order: each call of ``_make`` takes the next."""
    queue: list[FakeProducer] = []
    made: list[FakeProducer] = []

    def make(self):
        made.append(queue.pop(0))
        return made[-1]

    monkeypatch.setattr(transactions.Outbox, "_make", make)
    return queue, made


@pytest.mark.parametrize("error", [FATAL, FENCED], ids=["fatal", "fenced"])
def test_a_producer_failing_for_good_while_queueing_is_replaced_and_the_batch_fails(
    producers, error
):
    queue, made = producers
    queue += [FakeProducer(fail_produce=error), FakeProducer()]
    box = Outbox("127.0.0.1:1", "group.slot-0")
    box.begin()
    with pytest.raises(CommitFailed, match="producing to scores\\[3\\]"):
        box.send("scores", 3, [(b"k", b"v")])
    assert len(made) == 2 and not box.open  # replaced; the old transaction is gone
    box.begin()
    assert box.send("scores", 3, [(b"k", b"v"), (None, b"w")]) == 2
    assert made[1].sent == [("scores", 3, b"k", b"v"), ("scores", 3, None, b"w")]


def test_a_producer_that_cannot_begin_is_replaced(producers):
    queue, made = producers
    queue += [FakeProducer(fail_begin=FATAL), FakeProducer()]
    box = Outbox("127.0.0.1:1", "group.slot-0")
    with pytest.raises(CommitFailed, match="beginning a transaction"):
        box.begin()
    assert len(made) == 2 and not box.open
    box.begin()
    assert box.open and made[1].calls == ["begin"]


def test_a_passing_error_while_queueing_aborts_and_fails_the_batch(producers):
    queue, made = producers
    queue += [FakeProducer(fail_produce=KafkaError(KafkaError._STATE, "wrong state"))]
    box = Outbox("127.0.0.1:1", "group.slot-0")
    box.begin()
    with pytest.raises(CommitFailed, match="wrong state"):
        box.send("scores", 0, [(None, b"v")])
    assert made[0].calls == ["begin", "abort"] and not box.open and len(made) == 1
