"""Test harness: one real Kafka broker for the whole session, and a fresh topic per test.

The broker comes from, in order:
1. ``KAFKA_BOOTSTRAP_SERVERS``, an existing cluster;
2. testcontainers' Kafka (KRaft), when a Docker engine answers;
3. the native broker of ``streamscore kafka up``, started in a temporary state directory.
No broker is a test error (a loud failure), never a skip.

``secure_kafka`` is a second broker, always the native one, with a SASL_SSL listener (SCRAM,
a CA made at start-up) for the security tests.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from streams.errors import KafkaSetupError
from streams.kafka import broker_down, broker_up, wait_until_ready
from streams.kafka.local import secure_client_properties
from streams.kafka_security import read_properties
from streams.settings import load_settings

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
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a real, answering Kafka broker (see the module docstring)."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        try:
            wait_until_ready(external, timeout_s=60)
        except KafkaSetupError as exc:
            pytest.fail(f"KAFKA_BOOTSTRAP_SERVERS={external} does not answer: {exc}")
        yield external
        return
    if _docker_engine_answers():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer(CONTAINER_IMAGE).with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    settings = load_settings(env={}, state_dir=tmp_path_factory.mktemp("kafka-state"))
    try:
        info = broker_up(settings)
    except KafkaSetupError as exc:
        pytest.fail(f"could not start the native Kafka broker for the tests: {exc}")
    try:
        yield info.bootstrap
    finally:
        broker_down(settings)


@dataclass(frozen=True)
class SecureKafka:
    """A broker reachable only through TLS + SCRAM on ``bootstrap`` (for the clients under
    test; its PLAINTEXT listener stays internal)."""

    bootstrap: str
    properties: Path  # the client settings in librdkafka's key names
    variables: dict[str, str]  # the same settings as STREAMSCORE_KAFKA_* variables


@pytest.fixture(scope="session")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureKafka]:
    """The native broker with its SASL_SSL listener (``streamscore kafka up --secure``)."""
    settings = load_settings(env={}, state_dir=tmp_path_factory.mktemp("kafka-secure-state"))
    try:
        info = broker_up(settings, secure=True)
    except KafkaSetupError as exc:
        pytest.fail(f"could not start the native Kafka broker with SASL_SSL for the tests: {exc}")
    try:
        properties = secure_client_properties(settings)
        props = read_properties(properties)
        variables = {
            "STREAMSCORE_KAFKA_SECURITY_PROTOCOL": props["security.protocol"],
            "STREAMSCORE_KAFKA_SASL_MECHANISM": props["sasl.mechanism"],
            "STREAMSCORE_KAFKA_SASL_USERNAME": props["sasl.username"],
            "STREAMSCORE_KAFKA_SASL_PASSWORD": props["sasl.password"],
            "STREAMSCORE_KAFKA_SSL_CA_LOCATION": props["ssl.ca.location"],
        }
        yield SecureKafka(str(info.secure_bootstrap), properties, variables)
    finally:
        broker_down(settings)


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
