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


def test_a_command_line_imports_its_own_command_module_only(tmp_path):
    # Each worker and tool process parses its command line: the other commands' modules
    # (about 0.5 CPU-s of imports) stay unloaded. An unknown command still lists them all.
    probe = (
        "import sys; from streams.cli import main; code = main(sys.argv[1:]); "
        "print(sorted(m for m in sys.modules if m.endswith('_cmd'))); sys.exit(code)"
    )
    line = ["--state-dir", str(tmp_path), "models", "list"]
    done = subprocess.run([sys.executable, "-c", probe, *line], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "['streams.cli.models_cmd']", done.stdout
    wrong = subprocess.run([sys.executable, "-c", probe, "modles"], capture_output=True, text=True)
    assert wrong.returncode == 2
    assert "invalid choice: 'modles'" in wrong.stderr and "models" in wrong.stderr
    assert "worker" in wrong.stderr and "kafka" in wrong.stderr


def test_a_dead_letter_of_any_input_record_fits_the_dead_letters_topic():
    from schemas.deadletter import DEFAULT_MAX_VALUE_BYTES, ENVELOPE_BYTES
    from streams.settings import Settings
    from streams.topics import DEAD_LETTER_MESSAGE_BYTES, INPUT_TOPICS, MAX_MESSAGE_BYTES

    dead = TOPICS["dead-letters"].max_message_bytes
    assert dead == DEAD_LETTER_MESSAGE_BYTES
    assert set(INPUT_TOPICS) == {"raw-logs", "activity"}
    for key in INPUT_TOPICS:  # inputs declare their limit; the broker default is not assumed
        limit = TOPICS[key].max_message_bytes
        assert limit is not None and limit + ENVELOPE_BYTES <= dead, key
    # raw-logs takes whatever the parser may accept (an apt stanza), and long lines too.
    from streams.etl.types import ParseOptions

    assert TOPICS["raw-logs"].max_message_bytes >= ParseOptions().max_stanza_bytes + 64 * 1024
    # The largest cap the settings accept still leaves room for the envelope.
    field = Settings.model_fields["dead_letter_max_value_bytes"]
    (most,) = [m.le for m in field.metadata if getattr(m, "le", None) is not None]
    assert most + ENVELOPE_BYTES <= dead
    assert field.default == DEFAULT_MAX_VALUE_BYTES
    # Producers may send the largest record of any topic.
    assert MAX_MESSAGE_BYTES == max(s.max_message_bytes or 0 for s in TOPICS.values()) == dead


def test_the_dead_letter_cap_is_a_setting():
    s = load_settings(env={"STREAMSCORE_DEAD_LETTER_MAX_VALUE_BYTES": "4096"})
    assert s.dead_letter_max_value_bytes == 4096
    from streams.errors import ConfigError

    with pytest.raises(ConfigError, match="STREAMSCORE_DEAD_LETTER_MAX_VALUE_BYTES"):
        load_settings(env={"STREAMSCORE_DEAD_LETTER_MAX_VALUE_BYTES": str(64 * 1024 * 1024)})
