"""Window state: staged rows are seen by later batches, reach the store only when committed,
and the changelog gets one record per entity per commit. (Restores run on the broker, in the
pipeline and fault tests.)"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from streams.kafka.clients import watermarks
from streams.pipeline.state import StateStoreError, WindowState


def _state(tmp_path, kind="rocksdb") -> WindowState:
    def no_restore():
        raise AssertionError("no restore expected")

    state = WindowState("changelog", kind, tmp_path, no_restore)
    # Open stores without a changelog: what assign() does before it restores.
    for p in (0, 1):
        state._stores[p] = state._open(p)
    return state


@pytest.mark.parametrize("kind", ["rocksdb", "memory"])
def test_staged_rows_are_read_back_and_applied_only_after_commit(tmp_path, kind):
    state = _state(tmp_path, kind)
    view = state.reading([0])
    state.stage(0, {"u1": b"a", "u2": b"b"})
    assert view.get("u1") == b"a"  # the next batch of the same transaction sees it
    state.stage(0, {"u1": b"c"})
    assert view.get("u1") == b"c"
    # One changelog record per entity, with its last row, however many batches changed it.
    assert sorted(state.changelog_records()[0]) == [(b"u1", b"c"), (b"u2", b"b")]
    state.discard()  # the transaction aborted
    assert view.get("u1") is None and state.changelog_records() == {}
    state.stage(0, {"u1": b"d"})
    state.apply({0: 7})
    assert state._stores[0].get(b"u1") == b"d"
    assert state._stores[0].checkpoint() == 7
    assert state.changelog_records() == {}
    assert state.reading([1]).get("u1") == b"d"  # from the read cache


def test_a_kept_store_keeps_its_rows_and_checkpoint(tmp_path):
    state = _state(tmp_path)
    state.stage(1, {"h1": b"row"})
    state.apply({1: 42})
    state.close()
    again = _state(tmp_path)
    assert again.reading([1]).get("h1") == b"row"
    assert again._stores[1].checkpoint() == 42


def test_revoking_a_partition_with_uncommitted_state_is_refused(tmp_path):
    state = _state(tmp_path, "memory")
    state.stage(0, {"u1": b"a"})
    with pytest.raises(StateStoreError, match="uncommitted"):
        state.revoke([0])


def test_a_store_that_cannot_be_opened_names_its_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    state = WindowState("changelog", "rocksdb", blocker, lambda: None)
    with pytest.raises(StateStoreError, match=str(blocker)):
        state._open(0)


class LeaderComingUp:
    """A consumer whose broker says NOT_LEADER_FOR_PARTITION twice (a changelog topic just
    created, its leader still being elected), then answers; or always ``error``."""

    def __init__(self, error: int | None = None) -> None:
        self.asked, self.error = 0, error

    def get_watermark_offsets(self, tp, timeout):
        self.asked += 1
        if self.error is not None or self.asked <= 2:
            code = self.error or KafkaError.NOT_LEADER_FOR_PARTITION
            raise KafkaException(KafkaError(code, "Failed to get watermark offsets"))
        return 0, 42


def test_a_watermark_query_the_broker_cannot_answer_yet_is_asked_again():
    """Found by a clean-clone run: a worker exited 70 on NOT_LEADER_FOR_PARTITION while it
    restored a changelog partition that had just been created."""
    tp = TopicPartition("app-windows-changelog", 3)
    consumer = LeaderComingUp()
    assert watermarks(consumer, tp, time.monotonic() + 30) == (0, 42)
    assert consumer.asked == 3


def test_a_watermark_error_that_does_not_pass_or_a_deadline_gone_is_raised():
    tp = TopicPartition("app-windows-changelog", 3)
    refused = LeaderComingUp(KafkaError.TOPIC_AUTHORIZATION_FAILED)
    with pytest.raises(KafkaException):
        watermarks(refused, tp, time.monotonic() + 30)
    assert refused.asked == 1
    late = LeaderComingUp()
    with pytest.raises(KafkaException):
        watermarks(late, tp, time.monotonic() - 1)
    assert late.asked == 1
