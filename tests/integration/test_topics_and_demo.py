"""`streamscore topics create | list` and `streamscore demo` against the session's broker."""

from __future__ import annotations

import uuid

import pytest

from streams.topics import TOPICS
from tests.integration._cli import clean_env, streamscore

pytestmark = pytest.mark.kafka


@pytest.fixture
def env(kafka_bootstrap):
    prefix = f"t{uuid.uuid4().hex[:8]}."
    return clean_env(KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap, STREAMSCORE_TOPIC_PREFIX=prefix)


def test_topics_create_is_idempotent_and_list_shows_them(env, tmp_path):
    prefix = env["STREAMSCORE_TOPIC_PREFIX"]
    first = streamscore("--state-dir", str(tmp_path), "topics", "create", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("created") == len(TOPICS)
    second = streamscore("--state-dir", str(tmp_path), "topics", "create", env=env)
    assert second.stdout.count("exists") == len(TOPICS) and "created" not in second.stdout
    listing = streamscore("--state-dir", str(tmp_path), "topics", "list", env=env).stdout
    for key, spec in TOPICS.items():
        line = next(x for x in listing.splitlines() if x.startswith(prefix + key + " "))
        assert int(line.split()[1]) == spec.partitions


def test_demo_round_trips_real_events(env, tmp_path):
    result = streamscore(
        "--state-dir", str(tmp_path), "demo", "--events", "3000", "--log-lines", "300", env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all records came back intact" in result.stdout
    row = next(
        x
        for x in result.stdout.splitlines()
        if x.startswith(env["STREAMSCORE_TOPIC_PREFIX"] + "activity ")
    )
    assert row.split()[1:3] == ["3000", "3000"]
