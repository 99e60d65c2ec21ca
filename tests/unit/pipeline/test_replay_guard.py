"""After a rebalance the consumer re-reads kept partitions from their committed offsets while
the agent may still hold events of them: nothing already queued is scored twice."""

from types import SimpleNamespace

from faust.types import TP

from streams.pipeline.worker import _not_yet_queued

A, B = TP("in", 0), TP("in", 1)


def ev(tp: TP, offset: int) -> SimpleNamespace:
    return SimpleNamespace(message=SimpleNamespace(tp=tp, offset=offset))


def offsets(events) -> list[tuple[int, int]]:
    return [(e.message.tp.partition, e.message.offset) for e in events]


def test_events_below_the_ready_offset_are_dropped_per_partition():
    batch = [ev(A, 8), ev(B, 3), ev(A, 9), ev(A, 10), ev(B, 4)]
    assert offsets(_not_yet_queued(batch, {A: 10, B: 0})) == [(1, 3), (0, 10), (1, 4)]


def test_a_replayed_run_inside_one_batch_is_dropped():
    # Held events 5..7 of A, then the re-read from the committed offset 5 delivers 5..8 again.
    batch = [ev(A, 5), ev(A, 6), ev(A, 7), ev(A, 5), ev(A, 6), ev(A, 7), ev(A, 8)]
    assert offsets(_not_yet_queued(batch, {})) == [(0, 5), (0, 6), (0, 7), (0, 8)]


def test_a_partition_never_seen_keeps_everything():
    batch = [ev(B, 0), ev(B, 1)]
    assert offsets(_not_yet_queued(batch, {A: 100})) == [(1, 0), (1, 1)]
