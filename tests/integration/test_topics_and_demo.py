"""`streamscore topics create | list` and `streamscore demo` against the session's broker."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from streams.topics import TOPICS
from tests.support.cli import clean_env, streamscore

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


def test_input_records_carry_the_time_they_reached_kafka(kafka_bootstrap, tmp_path):
    """A replayed history's records keep their events' past times in the payload; their Kafka
    timestamp, where end-to-end latency starts, is when the broker appended them."""
    from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Consumer, Producer

    from streams.kafka.admin import create_topics
    from streams.settings import load_settings
    from streams.topics import topic_name

    settings = load_settings(env={"STREAMSCORE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:8]}.",
                                  "STREAMSCORE_STATE_DIR": str(tmp_path)})  # fmt: skip
    create_topics(settings, kafka_bootstrap)
    past_ms = int(time.time() * 1000) - 3_600_000  # an hour ago, as a replayed event would be
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for key in ("activity", "raw-logs"):
        producer.produce(topic_name(settings, key), b"x", b"k", timestamp=past_ms)
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": uuid.uuid4().hex,
                         "auto.offset.reset": "earliest"})  # fmt: skip
    consumer.subscribe([topic_name(settings, k) for k in ("activity", "raw-logs")])
    got = {}
    deadline = time.monotonic() + 60
    while len(got) < 2 and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is not None and msg.error() is None:
            got[msg.topic()] = msg.timestamp()
    consumer.close()
    assert len(got) == 2, got
    for kind, ts in got.values():
        assert kind == TIMESTAMP_LOG_APPEND_TIME and ts > past_ms + 1_800_000, (kind, ts)


@pytest.mark.slow
def test_demo_runs_the_whole_loop(env, tmp_path):
    """Models trained from nothing, a worker, live events in, scores and dead letters out."""
    result = streamscore(
        "--state-dir",
        str(tmp_path),
        "demo",
        "--duration",
        "15",  # counted from the first result: the worker's start-up is not in it
        "--users",
        "800",
        "--epochs",
        "4",
        "--rate",
        "1500",
        env=env,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    done = re.search(
        r"demo done: ([\d,]+) events produced, ([\d,]+) scores, ([\d,]+) dead", result.stdout
    )
    assert done, result.stdout[-2000:]
    produced, scores, dead = (int(g.replace(",", "")) for g in done.groups())
    assert produced > 0 and scores > 0
    assert dead == 3  # the three malformed records the demo sends on purpose
    assert (tmp_path / "models" / "churn").is_dir()  # trained because the registry was empty
    assert re.search(r"GUI: http://127\.0\.0\.1:\d+/", result.stdout), result.stdout[-2000:]
    assert "streamscore GUI: http://" in (tmp_path / "logs" / "gui.log").read_text()
