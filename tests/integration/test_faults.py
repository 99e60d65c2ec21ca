"""Faults on a real broker: a state store that fails, a broker that goes away, a zombie worker,
workers joining and leaving. Whatever happens, every valid event keeps exactly one ScoreResult
per model (read_committed) and every malformed record exactly one dead letter.
"""

from __future__ import annotations

import re
import signal
import socket
import time

import pytest

from streams.kafka import broker_down, broker_up
from streams.settings import load_settings
from tests.integration.pipeline import (
    Deployment,
    ResultReader,
    assert_exactly_once,
    offline_scores,
    stop,
)
from tests.support.workload import mixed_workload, split

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture
def deployment(kafka_bootstrap, trained, tmp_path):
    return Deployment.create(kafka_bootstrap, trained, tmp_path)


def wait_until(condition, timeout: float, what: str, workers=(), logs=lambda: "") -> None:
    """Until ``condition()``; ``logs()`` (e.g. the workers' log tails) goes into a failure."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        for w in workers:
            assert w.poll() is None, (
                f"a worker exited with {w.returncode} while waiting: {what}\n{logs()}"
            )
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting: {what}\n{logs()}")


def test_a_full_state_disk_ends_the_worker_and_loses_or_repeats_nothing(deployment):
    """The window-state stores' disk fills up mid-run (a 384 KiB tmpfs of the worker's own):
    RocksDB answers "No space left on device", and the worker exits with a clear error instead
    of idling. What it committed is whole, so a restarted worker (no small disk) neither
    repeats nor skips an event."""
    w = mixed_workload(12_000, seed=41, users=8000)
    expected, _ = offline_scores(deployment, w)
    reader = ResultReader(deployment)
    worker = deployment.start_worker("s1", workers_disk_bytes=384 * 1024)
    try:
        deployment.produce(w)
        worker.wait(300)
        log = deployment.log_tail("s1", 20_000)
        assert worker.returncode != 0, f"the worker exited with 0:\n{log[-3000:]}"
        assert re.search(r"window.state", log) and "No space left on device" in log, log[-3000:]
        assert "scoring stopped" in log, log[-3000:]
        # It stopped by its own shutdown, not by the backstop that ends a hung one.
        assert "did not stop within" not in log, log[-3000:]
        reader.poll(5)
        assert sum(reader.scores.values()) < len(expected), "the disk filled only at the end"
        worker = deployment.start_worker("s1")  # the same state directory, a roomy disk
        reader.wait_for(len(expected), len(w.malformed), timeout=300, workers=[worker])
    finally:
        stop(worker)
        reader.close()
    assert_exactly_once(reader, expected, len(w.malformed), deployment.log_tail("s1"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_worker_rides_out_a_broker_stopped_for_10_s(trained, tmp_path):
    """The broker stops mid-run and starts again 10 s later on the same port: the worker
    recovers by itself, nothing is lost or repeated, and the outage is logged once and then
    every few seconds, not hundreds of times a second."""
    broker = load_settings(env={}, state_dir=tmp_path / "broker", kafka_port=_free_port())
    info = broker_up(broker)
    worker = None
    reader = None
    try:
        d = Deployment.create(info.bootstrap, trained, tmp_path)
        w = mixed_workload(40_000, seed=42)
        expected, _ = offline_scores(d, w)
        reader = ResultReader(d)
        worker = d.start_worker("b1")
        d.produce(w)
        reader.wait_for(len(expected) // 4, 0, timeout=300, workers=[worker], settle=0)
        log_before = len(d.log_tail("b1", 10**9))
        broker_down(broker)
        time.sleep(10)
        broker_up(broker)
        reader.wait_for(len(expected), len(w.malformed), timeout=600, workers=[worker])
        assert worker.poll() is None, "the worker exited instead of riding out the outage"
        outage_log = d.log_tail("b1", 10**9)[log_before:]
        lines = [ln for ln in outage_log.splitlines() if "ERROR" in ln or "WARNING" in ln]
        assert len(lines) < 60, f"{len(lines)} error/warning lines for a 10 s outage:\n" + (
            "\n".join(lines[:40])
        )
        assert_exactly_once(reader, expected, len(w.malformed), d.log_tail("b1"))
    finally:
        if worker is not None:
            stop(worker)
        if reader is not None:
            reader.close()
        broker_down(broker)


def test_a_frozen_worker_cannot_commit_after_its_partitions_moved(deployment):
    """Zombie fencing: a worker is frozen (SIGSTOP) mid-run until its partitions move to the
    other worker, then resumed. Its open transaction is refused (the group generation moved
    on), so the results stay exactly-once."""
    first, second = split(mixed_workload(40_000, seed=43), 2)
    exp_first, _ = offline_scores(deployment, first)
    expected = {**exp_first, **offline_scores(deployment, second)[0]}
    n_bad = len(first.malformed) + len(second.malformed)
    reader = ResultReader(deployment)
    a = deployment.start_worker("za")
    b = deployment.start_worker("zb")
    try:
        wait_until(lambda: len(deployment.group_members()) == 2, 120, "both workers in the group")
        deployment.produce(first)
        reader.wait_for(len(exp_first), len(first.malformed), timeout=300, workers=[a, b], settle=0)
        deployment.produce(second)
        reader.wait_for(len(exp_first) + 2000, 0, timeout=300, workers=[a, b], settle=0)
        b.send_signal(signal.SIGSTOP)  # mid-run: b holds an open transaction
        wait_until(
            lambda: len(deployment.group_members()) == 1, 120, "b's partitions moved to a", [a]
        )
        reader.wait_for(len(expected), n_bad, timeout=600, workers=[a])
        b.send_signal(signal.SIGCONT)
        wait_until(
            lambda: len(deployment.group_members()) == 2,
            120,
            "b rejoined",
            [a, b],
            logs=lambda: deployment.log_tail("zb", 3000),
        )
        reader.poll(15)  # anything b could still commit would show up here
    finally:
        b.send_signal(signal.SIGCONT)
        stop(a)
        stop(b)
        reader.close()
    log_b = deployment.log_tail("zb", 20_000)
    assert_exactly_once(reader, expected, n_bad, log_b)
    assert any(s in log_b for s in ("lost", "commit failed", "aborting")), (
        f"b never found out it was fenced:\n{log_b[-3000:]}"
    )


def test_three_workers_join_and_leave_during_100k_events(deployment):
    w = mixed_workload(100_000, seed=44)
    slices = split(w, 5)
    expected, _ = offline_scores(deployment, w)
    # Results each slice adds (they pace the group changes): its activity events' share of
    # the whole run's expected results, counted instead of scoring every slice offline again.
    slice_of = {eid: i for i, s in enumerate(slices) for eid in s.event_ids}
    per_slice = [0] * len(slices)
    for eid, _model in expected:
        if eid in slice_of:
            per_slice[slice_of[eid]] += 1
    reader = ResultReader(deployment)
    workers = {"j1": deployment.start_worker("j1")}
    steps = [
        lambda: workers.__setitem__("j2", deployment.start_worker("j2")),
        lambda: workers.__setitem__("j3", deployment.start_worker("j3")),
        lambda: stop(workers.pop("j1")),  # leaves cleanly (SIGTERM)
        lambda: stop(workers.pop("j2"), signal.SIGKILL),  # dies
    ]
    try:
        done = 0
        for i, part in enumerate(slices):
            deployment.produce(part)
            done += per_slice[i]
            if i < len(steps):
                # Change the group while this slice is being scored.
                reader.wait_for(done - per_slice[i] // 2, 0, timeout=300, settle=0)
                steps[i]()
        alive = list(workers.values())
        reader.wait_for(len(expected), len(w.malformed), timeout=600, workers=alive)
    finally:
        for proc in workers.values():
            stop(proc)
        reader.close()
    assert_exactly_once(reader, expected, len(w.malformed), deployment.log_tail("j3"))
