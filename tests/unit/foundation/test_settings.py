from pathlib import Path

import pytest
from pydantic import ValidationError

from streams.errors import ConfigError
from streams.settings import ENVIRONMENT, Settings, load_settings


def test_defaults_without_environment():
    s = load_settings(env={})
    assert s.state_dir == Path("var")
    assert s.kafka_bootstrap_servers is None
    assert s.kafka_state_dir == Path("var/kafka")
    assert s.kernel_target == "auto"


def test_environment_is_read_and_explicit_values_win():
    env = {"STREAMSCORE_STATE_DIR": "/tmp/x", "STREAMSCORE_KAFKA_PORT": "19092"}
    s = load_settings(env=env)
    assert s.state_dir == Path("/tmp/x") and s.kafka_port == 19092
    assert load_settings(env=env, kafka_port=0).kafka_port == 0


def test_unknown_streamscore_variable_is_rejected_naming_it():
    with pytest.raises(ConfigError, match="STREAMSCORE_STAT_DIR"):
        load_settings(env={"STREAMSCORE_STAT_DIR": "/tmp"})


def test_unknown_override_is_rejected():
    with pytest.raises(ConfigError, match="no_such_setting"):
        load_settings(env={}, no_such_setting=1)


def test_bad_value_names_the_variable_and_what_was_found():
    with pytest.raises(ConfigError, match=r"STREAMSCORE_KERNEL_TARGET.*'gpu'"):
        load_settings(env={"STREAMSCORE_KERNEL_TARGET": "gpu"})
    with pytest.raises(ConfigError, match="host:port"):
        load_settings(env={"KAFKA_BOOTSTRAP_SERVERS": "localhost"})


def test_bootstrap_servers_accepts_lists_and_treats_empty_as_unset():
    s = load_settings(env={"KAFKA_BOOTSTRAP_SERVERS": "a:9092,b:9093"})
    assert s.kafka_bootstrap_servers == "a:9092,b:9093"
    assert load_settings(env={"KAFKA_BOOTSTRAP_SERVERS": ""}).kafka_bootstrap_servers is None


def test_settings_are_frozen_and_secrets_masked():
    s = load_settings(env={"STREAMSCORE_WEB_TOKEN": "hunter2"})
    with pytest.raises(ValidationError):
        s.kafka_port = 1  # type: ignore[misc]
    assert "hunter2" not in str(s.describe()) and "hunter2" not in repr(s)
    assert s.web_token is not None and s.web_token.get_secret_value() == "hunter2"


def test_every_environment_variable_feeds_a_real_setting():
    assert set(ENVIRONMENT.values()) <= set(Settings.model_fields)


def test_the_local_broker_jvm_options_follow_the_setting():
    from streams.kafka.local import _jvm_command

    def options(env):
        cmd = _jvm_command(load_settings(env=env), "java", Path("/libs"), ["kafka.Kafka", "c"])
        return cmd[cmd.index("-Xmx512m") + 1 : cmd.index("-Djava.awt.headless=true")]

    assert options({}) == ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
    assert options({"STREAMSCORE_KAFKA_JVM_OPTS": " -XX:+UseG1GC  -XX:MaxGCPauseMillis=20 "}) == [
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
    ]
