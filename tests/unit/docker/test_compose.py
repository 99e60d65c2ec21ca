"""docker/ without a Docker engine: what can be checked is checked.

The compose file parses; it has the broker, the topic set-up, two workers, the producer and the
GUI; every streamscore service runs the image's entrypoint (the `streamscore` CLI the tests run)
with a sub-command the real argument parser accepts; every streamscore variable it sets is one
the settings read; and both Dockerfiles end in that entrypoint.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from streams.cli import build_parser
from streams.settings import ENVIRONMENT, KAFKA_VERSION, load_settings

DOCKER = Path(__file__).resolve().parents[3] / "docker"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def ours(compose: dict) -> dict[str, dict]:
    """The services that run the streamscore image."""
    return {name: s for name, s in compose["services"].items() if "build" in s}


def dockerfile_instruction(path: Path, name: str) -> list[str]:
    """The JSON (exec form) argument of the last ``name`` instruction of a Dockerfile."""
    found = [
        line.split(None, 1)[1]
        for line in path.read_text().splitlines()
        if line.strip().upper().startswith(name + " ")
    ]
    assert found, f"{path.name} has no {name}"
    return json.loads(found[-1])


def test_services_of_the_deployment(compose):
    services = compose["services"]
    assert {"kafka", "topics", "worker-1", "worker-2", "producer", "gui"} <= set(services)
    kafka = services["kafka"]
    assert kafka["image"] == f"apache/kafka:{KAFKA_VERSION}"  # the release the tests run
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]  # KRaft, no ZooKeeper
    assert services["worker-1"]["command"] == services["worker-2"]["command"]  # one group
    assert services["topics"]["command"] == ["topics", "create"]
    assert services["producer"]["command"][:2] == ["produce", "--simulate"]
    assert services["gui"]["command"][0] == "gui"
    assert any(p.startswith("127.0.0.1:") for p in services["gui"]["ports"])  # loopback only


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.cuda"])
def test_image_entrypoint_is_the_cli(dockerfile):
    assert dockerfile_instruction(DOCKER / dockerfile, "ENTRYPOINT") == ["streamscore"]
    assert dockerfile_instruction(DOCKER / dockerfile, "CMD") == ["worker"]
    text = (DOCKER / dockerfile).read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    pyproject = (DOCKER.parent / "pyproject.toml").read_text()
    assert 'streamscore = "streams.cli:main"' in pyproject  # what ENTRYPOINT runs


def test_every_command_is_a_real_streamscore_subcommand(compose):
    parser = build_parser()
    for name, service in ours(compose).items():
        assert service["build"]["dockerfile"] == "docker/Dockerfile", name
        command = service["command"]
        assert isinstance(command, list), f"{name}: use the exec (list) form"
        try:
            args = parser.parse_args([str(a) for a in command])
        except SystemExit:
            pytest.fail(f"service {name}: `streamscore {shlex.join(command)}` does not parse")
        assert callable(args.func), name


def test_environment_is_known_to_the_settings(compose):
    for name, service in ours(compose).items():
        env = {k: str(v) for k, v in service.get("environment", {}).items()}
        unknown = set(env) - set(ENVIRONMENT)
        assert not unknown, f"service {name} sets variables no setting reads: {sorted(unknown)}"
        concrete = {k: v for k, v in env.items() if "${" not in v}
        load_settings(env=concrete)  # the values validate
    worker = ours(compose)["worker-1"]["environment"]
    assert worker["STREAMSCORE_WEB_HOST"] == "0.0.0.0"  # the GUI scrapes it across containers
    gui = compose["services"]["gui"]
    urls = [a for a in gui["command"] if str(a).startswith("http://")]
    assert urls == [f"http://worker-{i}:{worker['STREAMSCORE_WEB_PORT']}/metrics" for i in (1, 2)]
