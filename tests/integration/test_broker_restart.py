"""`streamscore kafka down` then `up` brings the broker back where it was.

Each test runs a broker of its own (its own state directory), not the session's: it is
stopped and started under a running worker, which must carry on without a restart.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from tests.integration.learning import VersionReader
from tests.integration.pipeline import MODELS, Deployment, stop
from tests.support.cli import clean_env, streamscore
from tests.support.workload import mixed_workload

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

_UP = re.compile(r"is up at 127\.0\.0\.1:(\d+) \(pid (\d+)")


def kafka(state: Path, *args: str):
    done = streamscore("--state-dir", str(state), "kafka", *args, env=clean_env(), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def up_port(state: Path) -> tuple[int, str]:
    done = kafka(state, "up")
    match = _UP.search(done.stdout)
    assert match, done.stdout
    return int(match.group(1)), done.stdout


def test_a_restarted_broker_comes_back_on_its_port_and_a_running_worker_resumes(trained, tmp_path):
    broker = tmp_path / "broker"
    port, _ = up_port(broker)
    worker = reader = None
    try:
        d = Deployment.create(f"127.0.0.1:{port}", trained, tmp_path)
        worker = d.start_worker("a", STREAMSCORE_TABLE_STORE="memory")
        reader = VersionReader(d)
        waves = [mixed_workload(500, seed=100 + k, malformed_frac=0.0) for k in range(2)]
        d.produce(waves[0])
        keys = [{(e, m) for e in w.event_ids for m in MODELS} for w in waves]
        reader.wait_for(keys[0], 300, workers=[worker], settle=0)
        assert keys[0] <= reader.count.keys(), d.log_tail("a")
        assert "stopped Kafka" in kafka(broker, "down").stdout
        again, said = up_port(broker)
        assert again == port, said
        d.produce(waves[1])  # events produced after the restart
        reader.wait_for(keys[1], 300, workers=[worker])
        assert worker.poll() is None, d.log_tail("a")  # the same process, never restarted
        missing = keys[1] - reader.count.keys()
        assert not missing, f"{len(missing)} results missing after the restart\n{d.log_tail('a')}"
    finally:
        if worker is not None:
            stop(worker)
        if reader is not None:
            reader.close()
        kafka(broker, "down")


def test_up_says_so_when_the_last_port_is_taken(tmp_path):
    broker = tmp_path / "broker"
    port, _ = up_port(broker)
    kafka(broker, "down")
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        try:
            moved, said = up_port(broker)
            assert moved != port
            assert f"port {port}, where this broker ran last time, is taken" in said, said
            assert f"runs on {moved} now" in said
        finally:
            kafka(broker, "down")
    back, said = up_port(broker)  # the record now holds the new port
    kafka(broker, "down")
    assert back == moved, said
