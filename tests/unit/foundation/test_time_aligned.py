"""TimeAligned: several partitions' records handed on oldest first, as the drift monitor and
the retraining collector need them when their consumer starts behind."""

from __future__ import annotations

from dataclasses import dataclass

from streams.kafka.clients import TimeAligned


@dataclass
class Record:  # what TimeAligned reads of a confluent_kafka.Message
    p: int
    ts: int

    def partition(self) -> int:
        return self.p

    def timestamp(self) -> tuple[int, int]:
        return (1, self.ts)  # (TIMESTAMP_CREATE_TIME, ms)


def test_a_backlog_read_partition_by_partition_comes_out_in_time_order():
    aligned = TimeAligned(range(3))
    # A consumer that starts behind: partition 2's first records, then 1's, then 0's.
    for p in (2, 1, 0):
        for ts in range(p, 12, 3):
            aligned.add(Record(p, ts))
    out = aligned.release(now=0.0)
    # Until partition 0 runs dry: it may have more records after its 9.
    assert [r.ts for r in out] == list(range(10))
    for p in range(3):
        aligned.at_end(p)
    assert [r.ts for r in aligned.release(now=0.1)] == [10, 11]


def test_a_silent_partition_holds_the_others_until_it_is_at_its_end_or_idle_too_long():
    aligned = TimeAligned(range(2), max_idle_s=2.0)
    aligned.add(Record(0, 5))
    aligned.add(Record(0, 6))
    assert aligned.release(now=10.0) == []  # partition 1 may still hold older records
    assert aligned.release(now=11.9) == []
    assert [r.ts for r in aligned.release(now=12.0)] == [5, 6]  # silent 2 s: go on without it
    aligned.add(Record(0, 7))
    assert aligned.release(now=12.5) == []  # a new wait
    aligned.at_end(1)
    assert [r.ts for r in aligned.release(now=12.6)] == [7]
    aligned.add(Record(1, 1))  # more records after its end: it takes part again
    aligned.add(Record(0, 8))
    assert [r.ts for r in aligned.release(now=12.7)] == [1]  # partition 1 has nothing behind 1
    aligned.at_end(1)
    assert [r.ts for r in aligned.release(now=12.8)] == [8]
