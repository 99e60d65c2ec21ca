"""A record its input topic accepts always ends as a result or a dead letter, however large.

Issue 12, item 7: a dead letter used to copy the whole record value, so a record larger than
the dead-letters topic's record limit (an activity record of a few MiB, a log line over 1 MiB)
made a dead letter that could not be produced; the worker crashed and the record had neither a
result nor a dead letter. Now a dead letter keeps a value above the cap
(``STREAMSCORE_DEAD_LETTER_MAX_VALUE_BYTES``, 1 MiB by default) as its first bytes, its length
and its SHA-256, and the dead-letters topic takes the largest input record plus the envelope.

Only the public behaviour is used: records in on the input topics, records out on the scores
and dead-letters topics, and a `streamscore worker` process that must keep running.
"""

from __future__ import annotations

import hashlib
import json
import random
import time

import pytest

from schemas import decode_dead_letter, decode_score_result
from streams.kafka.clients import read_topic
from streams.pipeline import BatchProcessor, records_from_values
from streams.produce import Publisher
from streams.scoring import load_model_set
from streams.topics import topic_name
from tests.integration.pipeline import (
    MODELS,
    Deployment,
    ResultReader,
    stop,
    wait_until_listed,
)
from tests.support.cli import streamscore
from tests.support.workload import Workload, arrow_payload, mixed_workload

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

MiB = 1024 * 1024


def expected_results(d: Deployment, workloads: list[Workload]) -> set[tuple[str, str]]:
    """(event id, model) of every valid event of the workloads and model that scores its
    entity kind, as the offline path scores them (log lines' event ids are hashes of their
    content; their entities are hosts, which churn and upsell do not score)."""
    models = load_model_set(d.settings)
    expected: set[tuple[str, str]] = set()
    for w in workloads:
        activity = [v for _, v in w.json_activity] + [arrow_payload(t) for t in w.arrow_tables]
        runs = [
            (BatchProcessor(models), records_from_values("activity", activity)),
            (
                BatchProcessor(models, hosts_from_keys=True),
                records_from_values(
                    "raw-logs", [v for _, v in w.log_lines], [k for k, _ in w.log_lines]
                ),
            ),
        ]
        for proc, records in runs:
            for _, value in proc.process(records, {}).scores:
                r = decode_score_result(value)
                expected.add((r["event_id"], r["model_name"]))
    return expected


def oversized_records() -> dict[str, tuple[bytes, bytes]]:
    """Logical input topic -> (key, value): a 1.5 MiB syslog line and 3 MiB of bogus activity."""
    rng = random.Random(1207)
    # Random text: lz4 cannot shrink it under the broker's default 1 MiB record limit, so the
    # raw-logs topic must take it as it is.
    text = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789 .:/", k=3 * MiB // 2))
    line = b"<13>May 28 10:00:00 host07 app[42]: stack trace " + text.encode()
    bogus = b'{"event_id": "huge", "user_id": "u00042", "blob": "' + rng.randbytes(3 * MiB)
    return {"raw-logs": (b"host07", line), "activity": (b"u00042", bogus)}


def test_oversized_records_become_one_truncated_dead_letter_each(
    kafka_bootstrap, trained, tmp_path
):
    d = Deployment.create(kafka_bootstrap, trained, tmp_path)
    before = mixed_workload(3000, seed=41, malformed_frac=0.0)  # still one malformed record
    after = mixed_workload(1000, seed=42, malformed_frac=0.0)
    big = oversized_records()
    assert 1.4 * MiB < len(big["raw-logs"][1]) < 1.6 * MiB and len(big["activity"][1]) > 3 * MiB
    expected = expected_results(d, [before, after])
    assert len(expected) == (before.n_user_events + after.n_user_events) * len(MODELS)
    n_malformed = len(before.malformed) + len(after.malformed)

    worker = d.start_worker("w")
    reader = ResultReader(d)
    try:
        d.produce(before)
        # The input topics accept them (a failed delivery raises here).
        with Publisher(d.settings, d.bootstrap) as pub:
            for key, (record_key, value) in big.items():
                pub.send(key, [value], [record_key])
        d.produce(after)
        try:
            reader.wait_for(len(expected), n_malformed + len(big), timeout=400, workers=[worker])
        except AssertionError as exc:  # the worker exited: say why
            raise AssertionError(f"{exc}; its log ends:\n{d.log_tail('w')}") from exc
        assert worker.poll() is None, f"the worker exited:\n{d.log_tail('w')}"

        # Exactly one result per valid event and model, before and after the big records.
        missing = expected - set(reader.scores)
        assert not missing, f"{len(missing)} results missing, e.g. {sorted(missing)[:3]}"
        assert set(reader.scores) == expected
        dupes = {k: n for k, n in reader.scores.items() if n > 1}
        assert not dupes, f"{len(dupes)} duplicated results, e.g. {list(dupes.items())[:3]}"
        # Exactly one dead letter per rejected record.
        assert sum(reader.dead.values()) == len(reader.dead) == n_malformed + len(big), (
            reader.dead,
            reader.dead_reasons,
        )

        cap = d.settings.dead_letter_max_value_bytes  # the default: 1 MiB
        assert cap == MiB
        letters = [
            decode_dead_letter(m.value())
            for m in read_topic(d.bootstrap, topic_name(d.settings, "dead-letters"), idle_s=5)
        ]
        by_topic = {}
        for letter in letters:
            if letter.value_truncated:
                by_topic.setdefault(letter.source_topic, []).append(letter)
            else:  # the workload's own malformed records are small: kept whole
                assert len(letter.value or b"") < 1024, letter.reason
        assert sorted(by_topic) == sorted(topic_name(d.settings, k) for k in big), letters
        for key, (record_key, value) in big.items():
            (letter,) = by_topic[topic_name(d.settings, key)]
            assert letter.value == value[:cap]
            assert letter.original_value_length == len(value)
            assert letter.original_value_sha256 == hashlib.sha256(value).hexdigest()
            assert letter.key == record_key and not letter.key_truncated
            assert letter.source_offset >= 0 and letter.reason

        # The tools say what was kept, and do not replay a truncated letter.
        env = d.env()
        listed = streamscore("dlq", "list", "--json", env=env)
        rows = [json.loads(line) for line in listed.stdout.splitlines()]
        truncated = [r for r in rows if r["value_truncated"]]
        assert {r["original_value_length"] for r in truncated} == {len(v) for _, v in big.values()}
        replayed = streamscore("dlq", "replay", env=env)
        assert replayed.returncode == 1, replayed.stdout + replayed.stderr
        assert f"replayed {n_malformed} dead letters" in replayed.stdout
        assert replayed.stderr.count("not replayed: ") == len(big), replayed.stderr
        assert worker.poll() is None, f"the worker exited:\n{d.log_tail('w')}"
    finally:
        stop(worker)
        reader.close()


def test_topics_create_raises_the_record_limit_of_an_older_dead_letters_topic(kafka_bootstrap):
    from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

    from streams.kafka.admin import create_topics
    from streams.settings import load_settings
    from streams.topics import DEAD_LETTER_MESSAGE_BYTES

    settings = load_settings(env={}, topic_prefix=f"t{random.randrange(16**8):08x}.")
    name = topic_name(settings, "dead-letters")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    # As an older release created it: the broker's default record limit (1 MiB).
    admin.create_topics([NewTopic(name, 6, -1)])[name].result(30)
    wait_until_listed(admin, [name])

    def limit() -> int:
        resource = ConfigResource(ResourceType.TOPIC, name)
        return int(
            admin.describe_configs([resource])[resource].result(30)["max.message.bytes"].value
        )

    was = limit()
    assert was < DEAD_LETTER_MESSAGE_BYTES
    first = create_topics(settings, kafka_bootstrap, keys=["dead-letters"])
    assert first == {
        name: f"exists, max.message.bytes raised from {was} to {DEAD_LETTER_MESSAGE_BYTES}"
    }
    deadline = time.monotonic() + 60  # brokers apply a config change a moment after the ack
    while limit() != DEAD_LETTER_MESSAGE_BYTES and time.monotonic() < deadline:
        time.sleep(0.5)
    assert limit() == DEAD_LETTER_MESSAGE_BYTES
    assert create_topics(settings, kafka_bootstrap, keys=["dead-letters"]) == {name: "exists"}
