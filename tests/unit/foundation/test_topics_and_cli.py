import subprocess
import sys

import pytest

from streams.cli import build_parser
from streams.settings import load_settings
from streams.topics import TOPICS, topic_name


def test_topics_are_declared_once_with_sane_values():
    assert len({spec.key for spec in TOPICS.values()}) == len(TOPICS)
    for key, spec in TOPICS.items():
        assert spec.key == key and spec.partitions >= 1
        assert spec.config()["cleanup.policy"] in {"delete", "compact"}
    assert TOPICS["model-events"].cleanup_policy == "compact"


def test_pipeline_topics_share_one_partition_count():
    # Workers send every result to the input's partition number (exactly-once in Faust).
    counts = {key: spec.partitions for key, spec in TOPICS.items() if key != "model-events"}
    assert len(set(counts.values())) == 1, counts


def test_topic_names_carry_the_prefix_and_unknown_keys_fail():
    s = load_settings(env={"STREAMSCORE_TOPIC_PREFIX": "t1."})
    assert topic_name(s, "activity") == "t1.activity"
    with pytest.raises(KeyError, match="expected one of"):
        topic_name(s, "activty")


def test_cli_help_lists_the_commands():
    out = subprocess.run(
        [sys.executable, "-m", "streams.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("kafka", "topics", "demo"):
        assert command in out
    kafka_help = build_parser().parse_args(["kafka", "status"])
    assert kafka_help.action == "status"
