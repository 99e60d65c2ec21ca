"""A worker's ``/metrics`` during a real run agree with what was produced and consumed.

One worker (exactly-once, the default) scores a known mixed workload; once every result is on
the output topics (read_committed), its Prometheus counters must match the workload exactly.
Exact, not ``>=``: the run has no crash, so no transaction aborts and no batch is read twice
(see ``streams.pipeline.telemetry.record_batch``).
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request

import pytest
from confluent_kafka import TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from streams.kafka.clients import make_consumer
from streams.topics import TOPICS, topic_name
from tests.integration.pipeline import MODELS, Deployment, ResultReader, stop
from tests.support.workload import mixed_workload

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

TOKEN = "s3cret-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int, token: str | None = TOKEN) -> dict[tuple[str, frozenset], float]:
    """``{(sample name, labels): value}`` of a worker's /metrics."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def records_on(d: Deployment, topic: str) -> int:
    consumer = make_consumer(d.bootstrap)
    try:
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(TOPICS["activity"].partitions)
        )
    finally:
        consumer.close()


def total(samples: dict, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and want <= lab)


def wait_for_web(port: int, worker, token: str = TOKEN, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert worker.poll() is None, f"the worker exited with {worker.returncode}"
        try:
            scrape(port, token)
            return
        except urllib.error.HTTPError:
            raise  # it answers, but not as expected (a 401: the wrong token)
        except (urllib.error.URLError, ConnectionError):
            time.sleep(1)
    pytest.fail(f"the worker's web server on port {port} did not answer in {timeout} s")


def test_metrics_match_what_was_produced_and_consumed(kafka_bootstrap, trained, tmp_path):
    d = Deployment.create(kafka_bootstrap, trained, tmp_path)
    w = mixed_workload(4000, seed=31)
    port = free_port()
    worker = d.start_worker("m1", STREAMSCORE_WEB_PORT=str(port), STREAMSCORE_WEB_TOKEN=TOKEN)
    reader = ResultReader(d)
    try:
        wait_for_web(port, worker)
        with pytest.raises(urllib.error.HTTPError) as denied:
            scrape(port, token=None)
        assert denied.value.code == 401
        d.produce(w)
        n_scores = w.n_user_events * len(MODELS)  # the log lines' entities are hosts: no score
        reader.wait_for(n_scores, len(w.malformed), timeout=300, workers=[worker])
        assert sum(reader.scores.values()) == n_scores, d.log_tail("m1")
        # The lag probe runs every 5 s: wait until it has seen every input partition drained.
        activity, logs = topic_name(d.settings, "activity"), topic_name(d.settings, "raw-logs")
        deadline = time.monotonic() + 30
        while True:
            m = scrape(port)
            lag = {lab: v for (n, lab), v in m.items() if n == "streamscore_consumer_lag"}
            if len(lag) == 12 and not any(lag.values()) or time.monotonic() > deadline:
                break
            time.sleep(1)
    finally:
        stop(worker)
        reader.close()

    # Records produced per input topic: the sum of its partitions' end offsets (the producer is
    # not transactional, so offsets are records; Arrow tables go as one record per partition).
    records_in = {topic: records_on(d, topic) for topic in (activity, logs)}
    assert records_in[logs] == len(w.log_lines) + sum(k == "raw-logs" for k, _ in w.malformed)
    for topic, n in records_in.items():
        assert total(m, "streamscore_events_in_total", topic=topic) == n, topic
    n_in = sum(records_in.values())
    out = "streamscore_records_out_total"
    assert total(m, out, topic=topic_name(d.settings, "scores")) == n_scores
    assert total(m, out, topic=topic_name(d.settings, "dead-letters")) == len(w.malformed)
    assert total(m, "streamscore_dead_letters_total") == len(w.malformed)
    assert total(m, "streamscore_batch_size_sum") == n_in
    n_batches = total(m, "streamscore_batch_size_count")
    assert 1 <= n_batches <= n_in
    assert total(m, "streamscore_stage_seconds_count", stage="publish") == n_batches
    assert total(m, "streamscore_stage_seconds_count", stage="parse") == n_batches
    assert total(m, "streamscore_end_to_end_seconds_count") == n_in
    n_hosts = w.n_valid_events - w.n_user_events
    for task in MODELS:
        assert total(m, "streamscore_score_count", task=task, role="champion") == w.n_user_events
        assert total(m, "streamscore_model_version", task=task, role="champion") == 1
        buckets = total(m, "streamscore_score_bucket", task=task, role="champion", le="+Inf")
        assert buckets == w.n_user_events
        # The hosts' events: not scored by design, counted as such (never as dead letters).
        not_scored = "streamscore_events_not_scored_total"
        assert total(m, not_scored, task=task, entity_kind="host") == n_hosts > 0
        assert total(m, not_scored, task=task) == n_hosts
    assert total(m, "streamscore_fallbacks_total") == 0  # healthy champions
    # Reason classes are short labels, not the raw reason text.
    reasons = {dict(lab)["reason"] for (n, lab), _ in m.items() if n.startswith("streamscore_dead")}
    assert reasons and all(len(r) <= 60 and ":" not in r for r in reasons), reasons
    assert len(lag) == 12 and not any(lag.values()), lag
