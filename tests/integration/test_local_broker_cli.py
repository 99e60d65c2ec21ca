"""`streamscore kafka up | down | status | logs` on a broker of their own, and their errors."""

from __future__ import annotations

import os
import re
import shutil
import socket
import time
from pathlib import Path

import pytest

from tests.support.cli import clean_env, streamscore

pytestmark = pytest.mark.kafka


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_up_twice_status_logs_down(tmp_path):
    env = clean_env()
    state = ["--state-dir", str(tmp_path / "state")]
    first = streamscore(*state, "kafka", "up", env=env)
    assert first.returncode == 0, first.stderr
    match = re.search(r"is up at (127\.0\.0\.1:\d+) \(pid (\d+)", first.stdout)
    assert match, first.stdout
    bootstrap, pid = match.group(1), int(match.group(2))
    try:
        second = streamscore(*state, "kafka", "up", env=env)
        assert second.returncode == 0
        assert f"already running at {bootstrap} (pid {pid})" in second.stdout

        status = streamscore(*state, "kafka", "status", env=env)
        assert (
            status.returncode == 0 and bootstrap in status.stdout and "answering" in status.stdout
        )

        logs = streamscore(*state, "kafka", "logs", "-n", "400", env=env)
        assert "Kafka Server started" in logs.stdout
    finally:
        down = streamscore(*state, "kafka", "down", env=env)
    assert down.returncode == 0 and f"stopped Kafka (pid {pid})" in down.stdout
    assert not _alive(pid)
    after = streamscore(*state, "kafka", "status", env=env)
    assert after.returncode == 1 and "down" in after.stdout
    again = streamscore(*state, "kafka", "down", env=env)
    assert "no local Kafka broker was running" in again.stdout


def test_taken_port_is_a_clear_error(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = streamscore(
            "--state-dir", str(tmp_path), "kafka", "up", "--port", str(port), env=clean_env()
        )
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is already taken" in result.stderr
    assert "STREAMSCORE_KAFKA_PORT" in result.stderr


def test_missing_java_names_the_fix(tmp_path):
    result = streamscore(
        "--state-dir",
        str(tmp_path),
        "kafka",
        "up",
        env=clean_env(JAVA_HOME=str(tmp_path / "no-jdk")),
    )
    assert result.returncode == 2
    assert "needs Java 17+" in result.stderr and "openjdk-17" in result.stderr


def test_missing_maven_names_the_fix(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    java = shutil.which("java")
    assert java, "java must be installed for the Kafka tests"
    os.symlink(java, bin_dir / "java")
    env = clean_env(PATH=str(bin_dir), STREAMSCORE_CACHE_DIR=str(tmp_path / "empty-cache"))
    env.pop("JAVA_HOME", None)
    result = streamscore("--state-dir", str(tmp_path / "s"), "kafka", "up", env=env)
    assert result.returncode == 2
    assert "`mvn` is not on PATH" in result.stderr and "apt-get install -y maven" in result.stderr


def test_external_cluster_starts_nothing(tmp_path, kafka_bootstrap):
    env = clean_env(KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap)
    result = streamscore("--state-dir", str(tmp_path), "kafka", "up", env=env)
    assert result.returncode == 0 and "nothing started" in result.stdout
    assert not (tmp_path / "kafka" / "broker.json").exists()
    status = streamscore("--state-dir", str(tmp_path), "kafka", "status", env=env)
    assert status.returncode == 0 and "external" in status.stdout


def test_the_first_broker_leaves_a_class_archive_the_next_one_starts_from(tmp_path):
    """In a cache of its own (the suite's jars linked in) there is no class archive: the first
    `kafka up` records the broker's classes and a background JVM dumps them; the next broker
    starts from the archive (it maps it), and nothing else is left in the cache."""
    from streams.kafka.local import _ensure_jars
    from streams.settings import load_settings

    jars = _ensure_jars(load_settings(env=clean_env()))
    cache = tmp_path / "cache"
    dist = cache / jars.parent.name
    dist.mkdir(parents=True)
    (dist / "libs").symlink_to(jars)
    env = clean_env(STREAMSCORE_CACHE_DIR=str(cache))
    state = ["--state-dir", str(tmp_path / "state")]

    first = streamscore(*state, "kafka", "up", env=env)
    assert first.returncode == 0, first.stderr
    deadline = time.monotonic() + 240
    while not list(dist.glob("classes-*.jsa")) or list(dist.glob("*.building")):
        assert time.monotonic() < deadline, sorted(p.name for p in dist.iterdir())
        time.sleep(0.5)
    assert streamscore(*state, "kafka", "down", env=env).returncode == 0
    (archive,) = dist.glob("classes-*.jsa")
    assert sorted(p.name for p in dist.iterdir()) == [archive.name, "libs"]

    second = streamscore(*state, "kafka", "up", env=env)
    assert second.returncode == 0, second.stderr
    pid = int(re.search(r"\(pid (\d+)", second.stdout).group(1))
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert f"-XX:SharedArchiveFile={archive}".encode() in cmdline
        assert not any(arg.startswith(b"-XX:DumpLoadedClassList") for arg in cmdline)
        assert str(archive) in Path(f"/proc/{pid}/maps").read_text()  # the JVM took it
    finally:
        assert streamscore(*state, "kafka", "down", env=env).returncode == 0
