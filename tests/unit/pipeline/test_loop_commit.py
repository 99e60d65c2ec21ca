"""A commit whose producer fails for good while it sends the window-state changelog fails that
commit (the records are scored again), not the worker.

Found by the frozen-worker test (tests/integration/test_faults.py) in a clean-clone run: the
thawed worker's fenced producer failed on its changelog record, which the loop sent before the
part of the commit that handles ``CommitFailed``, so the worker exited 70 instead of
rejoining."""

from __future__ import annotations

from types import SimpleNamespace

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
    loop.consumer = SimpleNamespace(rewind=lambda: rewound.append(True))

    loop._commit()  # raised CommitFailed out of the loop before

    assert rewound == [True] and loop.state.discarded and not loop.state.applied
    assert not loop.outbox.committed and loop._offsets == {}
