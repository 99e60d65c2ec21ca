"""The whole pipeline through a SASL_SSL listener only (SCRAM-SHA-512, TLS with a CA made at
broker start-up): producers, a `streamscore worker`, `consume`, `dlq list`, `models promote`
and the GUI's Kafka reader. Every client and process is given the secure listener's address
and its credentials, nothing else; a wrong password is a clear error naming the setting.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from models.registry import ModelRegistry
from streams.errors import KafkaAuthError
from streams.kafka.clients import make_consumer
from streams.settings import load_settings
from streams.web import LiveState
from streams.web.feed import Feed
from tests.integration.pipeline import MODELS, Deployment, ResultReader, stop
from tests.support.cli import clean_env, streamscore
from tests.support.workload import mixed_workload

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_pipeline_tools_and_gui_work_through_sasl_ssl_only(secure_kafka, trained, tmp_path):
    d = Deployment.create(secure_kafka.bootstrap, trained, tmp_path, secure_kafka.variables)
    assert d.settings.kafka_sasl_password is not None  # the clients below get credentials
    w = mixed_workload(800, seed=5, malformed_frac=0.02)
    assert w.malformed, "the workload must hold records that become dead letters"
    worker = d.start_worker("secure")
    reader = ResultReader(d)
    feed = None
    try:
        d.produce(w)
        reader.wait_for(
            len(MODELS) * w.n_user_events, len(w.malformed), timeout=400, workers=[worker]
        )
        assert worker.poll() is None, d.log_tail("secure")
        assert len(reader.scores) == len(MODELS) * w.n_user_events, d.log_tail("secure")
        assert sum(reader.dead.values()) == len(w.malformed)

        # The CLI tools, given the listener's client properties file (librdkafka key names).
        props_env = clean_env(
            KAFKA_BOOTSTRAP_SERVERS=secure_kafka.bootstrap,
            STREAMSCORE_TOPIC_PREFIX=d.prefix,
            STREAMSCORE_STATE_DIR=str(d.state_dir),
            STREAMSCORE_KAFKA_PROPERTIES=str(secure_kafka.properties),
        )
        rows = streamscore("consume", "--topic", "scores", "-n", "5", "--format", "jsonl",
                           env=props_env)  # fmt: skip
        assert rows.returncode == 0, rows.stderr[-2000:]
        parsed = [json.loads(line) for line in rows.stdout.splitlines()]
        assert len(parsed) == 5 and {p["model_name"] for p in parsed} <= set(MODELS)
        listed = streamscore("dlq", "list", "--json", env=props_env)
        assert listed.returncode == 0, listed.stderr[-2000:]
        letters = [json.loads(line) for line in listed.stdout.splitlines()]
        assert len(letters) == len(w.malformed) and all(x["reason"] for x in letters)

        # `models promote` writes model-events through SASL_SSL (the variables this time).
        champion = ModelRegistry.from_settings(d.settings).champion("churn").version
        promoted = streamscore("models", "promote", "churn", champion, env=d.env())
        assert promoted.returncode == 0, promoted.stdout + promoted.stderr[-2000:]
        assert "published model event churn promoted" in promoted.stdout

        # The GUI's reader: scores, dead letters, the model event and the worker group's lag.
        state = LiveState()
        feed = Feed(d.settings, d.bootstrap, state).start()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            snap = state.snapshot()
            totals = snap["totals"]
            if (
                totals["scores"]
                and totals["dead_letters"]
                and totals["model_events"]
                and snap["lag"]
            ):
                break
            time.sleep(0.5)
        assert snap["feed_error"] is None, snap["feed_error"]
        assert totals["scores"] > 0 and totals["dead_letters"] == len(w.malformed)
        assert totals["model_events"] >= 1
        assert {row["group"] for row in snap["lag"]} == {f"{d.prefix}worker.activity-logs.all"}
    finally:
        if feed is not None:
            feed.stop()
        stop(worker)
        reader.close()


def test_a_wrong_password_is_an_error_naming_the_setting(secure_kafka, trained, tmp_path):
    d = Deployment.create(secure_kafka.bootstrap, trained, tmp_path, secure_kafka.variables)
    wrong = d.env(STREAMSCORE_KAFKA_SASL_PASSWORD="not-the-password")
    for args in (("consume", "--topic", "scores", "-n", "1"), ("topics", "list"), ("worker",)):
        done = streamscore(*args, env=wrong, timeout=120)
        assert done.returncode == 2, (args, done.stdout[-1000:], done.stderr[-2000:])
        error = done.stderr.strip().splitlines()[-1]
        assert error.startswith("streamscore: error: "), (args, error)
        assert "STREAMSCORE_KAFKA_SASL_PASSWORD" in error and "authentication" in error, error
        assert "not-the-password" not in done.stderr  # the secret is never printed

    # In a library call, the same error as an exception (not an endless retry).
    bad = load_settings(
        env={**d.security, "STREAMSCORE_KAFKA_SASL_PASSWORD": "wrong"}, **d.overrides
    )
    consumer = make_consumer(d.bootstrap, settings=bad)
    try:
        consumer.subscribe([f"{d.prefix}scores"])
        with pytest.raises(KafkaAuthError, match="STREAMSCORE_KAFKA_SASL_PASSWORD"):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                consumer.consume(10, timeout=0.5)
    finally:
        consumer.close()


def test_plaintext_clients_are_refused_by_the_secure_listener(secure_kafka, tmp_path):
    env = clean_env(
        KAFKA_BOOTSTRAP_SERVERS=secure_kafka.bootstrap, STREAMSCORE_STATE_DIR=str(tmp_path)
    )
    done = streamscore("kafka", "status", env=env, timeout=60)
    assert done.returncode == 1 and "NOT answering" in done.stdout, done.stdout + done.stderr


def test_kafka_up_secure_adds_the_listener_to_a_broker_formatted_without_it(tmp_path):
    env = clean_env(STREAMSCORE_STATE_DIR=str(tmp_path / "var"))
    try:
        plain = streamscore("kafka", "up", env=env)  # formats the storage with no SCRAM user
        assert plain.returncode == 0, plain.stderr[-2000:]
        assert "SASL_SSL" not in plain.stdout
        refused = streamscore("kafka", "up", "--secure", env=env)  # running without it
        assert refused.returncode == 2 and "kafka down" in refused.stderr, refused.stderr
        assert streamscore("kafka", "down", env=env).returncode == 0

        secure = streamscore("kafka", "up", "--secure", env=env)
        assert secure.returncode == 0, secure.stdout + secure.stderr[-2000:]
        match = re.search(r"SASL_SSL listener at (\S+);.*STREAMSCORE_KAFKA_PROPERTIES=(\S+)",
                          secure.stdout)  # fmt: skip
        assert match, secure.stdout
        props = match.group(2)
        # Only the properties file: the tools find the local broker's secure listener.
        tools = {**env, "STREAMSCORE_KAFKA_PROPERTIES": props}
        created = streamscore("topics", "create", env=tools)
        assert created.returncode == 0 and "created" in created.stdout, created.stderr[-2000:]
        listed = streamscore("topics", "list", env=tools)
        assert listed.returncode == 0 and "streamscore.scores" in listed.stdout, listed.stderr
        wrong = streamscore(
            "topics", "list", env={**tools, "STREAMSCORE_KAFKA_SASL_PASSWORD": "nope"}
        )
        assert wrong.returncode == 2 and "STREAMSCORE_KAFKA_SASL_PASSWORD" in wrong.stderr
    finally:
        streamscore("kafka", "down", env=env)
