"""What a test run makes once and shares between its pytest-xdist workers.

``make test`` runs the suite in several worker processes (pytest-xdist). A few things are too
slow to make once per worker: the Kafka broker and the models the pipeline tests score with.
The first process that asks for one makes it, under a file lock, in the run's folder (the
controller's basetemp, which holds every worker's basetemp; without xdist, the basetemp), and
writes a record of it there; the other processes wait on the lock and read the record. A
failure is recorded too, so every process fails with the first one's error instead of trying
again. Brokers run in sessions of their own, outlive the worker that started them, and are
stopped by the controller (or the only process) when the run ends: :func:`stop_brokers`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

_BROKERS = "broker-*.json"


def run_dir(config: pytest.Config) -> Path:
    """The folder of this run that every process of it sees (see the module docstring)."""
    base = config._tmp_path_factory.getbasetemp()  # what pytest-xdist hands its workers too
    return base.parent if is_xdist_worker(config) else base


def is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def once_per_run(root: Path, name: str, make: Callable[[Path], dict]) -> dict:
    """The record of ``name``: ``make(root / name)``'s, from the first process that asked.

    ``make`` gets an empty folder for what it makes and returns a JSON-able record. When it
    raises, the error is recorded and raised again in this process and in every later one.
    """
    record = root / f"{name}.json"
    with FileLock(root / f"{name}.lock"):
        if not record.exists():
            folder = root / name
            folder.mkdir(exist_ok=True)
            try:
                data = {"ok": make(folder)}
            except Exception as exc:
                data = {"error": f"{type(exc).__name__}: {exc}"}
            record.write_text(json.dumps(data))
        data = json.loads(record.read_text())
    if "error" in data:
        raise RuntimeError(f"{name} could not be made for this run: {data['error']}")
    return data["ok"]


def shared_broker(
    config: pytest.Config, name: str, start: Callable[[Path], dict[str, str]]
) -> dict[str, str]:
    """A broker for the whole run: ``start(folder)`` in the first process that asks.

    ``start`` returns the broker's record: ``bootstrap`` and ``kind`` (``native``, with its
    ``state_dir``, or ``container``, with its ``container_id``), which :func:`stop_brokers`
    needs to stop it, plus whatever the tests need (``secure_bootstrap``, ...)."""
    return once_per_run(run_dir(config), f"broker-{name}", start)


def stop_brokers(config: pytest.Config) -> list[str]:
    """Stop every broker this run started; return what was stopped (for the summary)."""
    from streams.kafka import broker_down
    from streams.settings import load_settings

    stopped = []
    for record in sorted(run_dir(config).glob(_BROKERS)):
        data = json.loads(record.read_text()).get("ok")
        if not data:
            continue
        if data["kind"] == "native":
            broker_down(load_settings(env={}, state_dir=Path(data["state_dir"])))
        elif data["kind"] == "container":
            import docker

            docker.from_env().containers.get(data["container_id"]).remove(force=True, v=True)
        record.unlink()
        stopped.append(f"{record.stem} ({data['kind']}, {data['bootstrap']})")
    return stopped
