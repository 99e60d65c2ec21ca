"""How ``make test`` hands the suite to its pytest-xdist workers (``--dist loadgroup``).

Each integration test is a unit of work of its own, given to the next free worker; each unit
test file is one unit (its module-scoped fixtures, such as trained models or simulated
populations, are then made once per run, not once in every worker that runs one of its tests);
and the tests of a group (:data:`GROUPS`) are one unit. A unit runs in one worker, one test
after the other. Units start in the order of :data:`FIRST` (the long ones: started last, they
would leave the other workers idle at the end), then in collection order.

The groups are decided here, from the test's node id, on the controller. pytest-xdist 3.8's own
``xdist_group`` marks do not take effect with pytest 9.2 (they rewrite a node id attribute that
pytest 9.2 no longer reads: pytest-dev/pytest-xdist#1386), and a node id is all the controller
sees of a test.
"""

from __future__ import annotations

import pytest
from xdist.scheduler import LoadGroupScheduling

# Group name -> node id prefixes of its tests, and why they run one after the other.
GROUPS: dict[str, tuple[str, ...]] = {
    # One local[2] SparkSession (a JVM, ~1 GiB) per worker that uses one: keep it to one.
    "spark": ("tests/unit/spark/",),
    # Fault injection (a full disk, a stopped broker, a frozen worker, workers joining and
    # leaving) with up to three workers each: one at a time keeps the load they were written
    # for.
    "faults": ("tests/integration/test_faults.py",),
}

# Node id prefixes of the units to start first, longest first.
FIRST: tuple[str, ...] = (
    "tests/integration/test_faults.py",  # a group: its worker takes no other unit for a while
    "tests/unit/spark/",  # a group too: at the end of the queue it would run alone
    "tests/unit/models/test_quality.py",  # one unit (a file): two long trainings
    "tests/integration/test_learning.py",
    "tests/integration/test_pipeline.py",
)


def group_of(nodeid: str) -> str | None:
    for group, prefixes in GROUPS.items():
        if nodeid.startswith(prefixes):
            return group
    return None


def unit_file_of(nodeid: str) -> str | None:
    """The file of a unit test (``tests/unit/...``): its tests are one unit of work."""
    return nodeid.split("::", 1)[0] if nodeid.startswith("tests/unit/") else None


class GroupScheduling(LoadGroupScheduling):
    """``--dist loadgroup`` with the groups of :data:`GROUPS` and a unit test file per unit
    (an ``xdist_group`` mark, where pytest-xdist honours it, still makes a group)."""

    def _split_scope(self, nodeid: str) -> str:
        return group_of(nodeid) or unit_file_of(nodeid) or super()._split_scope(nodeid)


def make_scheduler(config: pytest.Config, log) -> GroupScheduling | None:
    if config.getvalue("dist") != "loadgroup":
        return None
    config.option.loadscopereorder = False  # units in collection order: see order_items
    return GroupScheduling(config, log)


def order_items(items: list[pytest.Item]) -> None:
    """The tests of :data:`FIRST` first, in its order; the rest in collection order. Every
    worker collects the same order, which is the order the controller hands units out in."""

    def rank(item: pytest.Item) -> int:
        return next((i for i, p in enumerate(FIRST) if item.nodeid.startswith(p)), len(FIRST))

    items.sort(key=rank)
