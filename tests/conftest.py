"""Test harness: one real Kafka broker for the whole run, and a fresh topic per test.

The run's pytest-xdist workers share the broker: the first one that needs it starts it, the
others find it (:mod:`tests.support.run`), and the controller stops it when the run ends. Each
test makes its own topics and consumer groups (unique names), so workers never meet on them.

The broker comes from, in order:
1. ``KAFKA_BOOTSTRAP_SERVERS``, an existing cluster;
2. testcontainers' Kafka (KRaft), when a Docker engine answers;
3. the native broker of ``streamscore kafka up``, started in a state directory of the run.
No broker is a test error (a loud failure), never a skip.

``secure_kafka`` is a second broker, always the native one, with a SASL_SSL listener (SCRAM,
a CA made at start-up) for the security tests.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from streams.errors import KafkaSetupError
from streams.kafka import broker_up, wait_until_ready
from streams.kafka.local import secure_client_properties
from streams.kafka_security import read_properties
from streams.settings import load_settings
from tests.support.run import is_xdist_worker, shared_broker, stop_brokers
from tests.support.schedule import make_scheduler, order_items

REPO = Path(__file__).resolve().parents[1]
CONTAINER_IMAGE = "confluentinc/cp-kafka:8.0.0"  # Confluent Platform 8.0 = Apache Kafka 4.0


def _docker_engine_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def kafka_bootstrap(pytestconfig: pytest.Config) -> str:
    """Bootstrap servers of a real, answering Kafka broker (see the module docstring)."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        try:
            wait_until_ready(external, timeout_s=60)
        except KafkaSetupError as exc:
            pytest.fail(f"KAFKA_BOOTSTRAP_SERVERS={external} does not answer: {exc}")
        return external
    start = _start_container if _docker_engine_answers() else _start_native
    try:
        return shared_broker(pytestconfig, "plain", start)["bootstrap"]
    except RuntimeError as exc:
        pytest.fail(f"could not start the Kafka broker for the tests: {exc}")


def _start_container(folder: Path) -> dict[str, str]:
    """testcontainers' Kafka, not reaped with the process that started it (the run stops it)."""
    from testcontainers.community.kafka import KafkaContainer
    from testcontainers.core.config import testcontainers_config

    testcontainers_config.ryuk_disabled = True
    container = KafkaContainer(CONTAINER_IMAGE).with_kraft().start()
    return {
        "kind": "container",
        "container_id": container.get_container_id(),
        "bootstrap": container.get_bootstrap_server(),
    }


def _start_native(folder: Path, secure: bool = False) -> dict[str, str]:
    info = broker_up(load_settings(env={}, state_dir=folder), secure=secure)
    record = {"kind": "native", "state_dir": str(folder), "bootstrap": info.bootstrap}
    return record | ({"secure_bootstrap": str(info.secure_bootstrap)} if secure else {})


@dataclass(frozen=True)
class SecureKafka:
    """A broker reachable only through TLS + SCRAM on ``bootstrap`` (for the clients under
    test; its PLAINTEXT listener stays internal)."""

    bootstrap: str
    properties: Path  # the client settings in librdkafka's key names
    variables: dict[str, str]  # the same settings as STREAMSCORE_KAFKA_* variables


@pytest.fixture(scope="session")
def secure_kafka(pytestconfig: pytest.Config) -> SecureKafka:
    """The native broker with its SASL_SSL listener (``streamscore kafka up --secure``)."""
    try:
        record = shared_broker(pytestconfig, "secure", lambda d: _start_native(d, secure=True))
    except RuntimeError as exc:
        pytest.fail(f"could not start the native Kafka broker with SASL_SSL for the tests: {exc}")
    settings = load_settings(env={}, state_dir=Path(record["state_dir"]))
    properties = secure_client_properties(settings)
    props = read_properties(properties)
    variables = {
        "STREAMSCORE_KAFKA_SECURITY_PROTOCOL": props["security.protocol"],
        "STREAMSCORE_KAFKA_SASL_MECHANISM": props["sasl.mechanism"],
        "STREAMSCORE_KAFKA_SASL_USERNAME": props["sasl.username"],
        "STREAMSCORE_KAFKA_SASL_PASSWORD": props["sasl.password"],
        "STREAMSCORE_KAFKA_SSL_CA_LOCATION": props["ssl.ca.location"],
    }
    return SecureKafka(record["secure_bootstrap"], properties, variables)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The controller (or the only process) stops the brokers the run started, after every
    worker is done with them."""
    if not is_xdist_worker(session.config):
        stop_brokers(session.config)


@pytest.fixture
def make_topic(kafka_bootstrap: str, request: pytest.FixtureRequest) -> Callable[..., str]:
    """Create a fresh, uniquely named topic for this test: ``make_topic(partitions=3)``."""
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    base = re.sub(r"[^A-Za-z0-9._-]", "-", request.node.name)[:80]

    def create(partitions: int = 1, config: dict[str, str] | None = None) -> str:
        name = f"test.{base}.{uuid.uuid4().hex[:8]}"
        futures = admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])
        futures[name].result(timeout=30)
        return name

    return create


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadgroup`` with this suite's groups and order (:mod:`tests.support.schedule`)."""
    return make_scheduler(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    order_items(items)
