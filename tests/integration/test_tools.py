"""The user tools against a running pipeline: produce files, consume scores, list and replay
dead letters; the worker started as `faust -A streams.app worker`, at-least-once."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.integration.pipeline import Deployment, ResultReader, stop
from tests.support.cli import streamscore
from tests.support.workload import mixed_workload

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_produce_consume_dlq_with_faust_cli_worker_at_least_once(
    kafka_bootstrap, trained, tmp_path
):
    d = Deployment.create(kafka_bootstrap, trained, tmp_path)
    w = mixed_workload(3000, seed=31, malformed_frac=0.0)
    files = tmp_path / "files"
    files.mkdir()
    (files / "activity.jsonl").write_bytes(b"\n".join(v for _, v in w.json_activity) + b"\n")
    logs = [v for _, v in w.log_lines if not v.startswith(b"{")]
    junk = [b"not a log line at all", b"\xff\xfe binary"]
    (files / "machine.log").write_bytes(b"\n".join(logs + junk) + b"\n")
    table = pa.concat_tables(w.arrow_tables)
    pq.write_table(table, files / "bulk.parquet")
    n_events = len(w.json_activity) + len(logs) + table.num_rows
    n_user_events = len(w.json_activity) + table.num_rows  # the log lines' entity is a host

    env = d.env(STREAMSCORE_PROCESSING_GUARANTEE="at_least_once")
    worker = d.start_worker(
        "faust", faust_cli=True, STREAMSCORE_PROCESSING_GUARANTEE="at_least_once"
    )
    reader = ResultReader(d)
    try:
        produced = streamscore("produce", *(str(p) for p in sorted(files.iterdir())), env=env)
        assert produced.returncode == 0, produced.stderr[-2000:]
        assert f"{n_events + len(junk)} events" in produced.stdout, produced.stdout
        reader.wait_for(2 * n_user_events, len(junk), timeout=400, workers=[worker])
        # at-least-once: every user event, both models; no host (log line) gets a user score
        assert len(reader.scores) == 2 * n_user_events
        assert {event for event, _ in reader.scores} == set(w.event_ids)
        assert len(reader.dead) == len(junk)

        rows = streamscore("consume", "--topic", "scores", "-n", "5", "--format", "jsonl", env=env)
        parsed = [json.loads(line) for line in rows.stdout.splitlines()]
        assert len(parsed) == 5 and {p["model_name"] for p in parsed} <= {"churn", "upsell"}
        assert all(0.0 <= p["score"] <= 1.0 for p in parsed)
        table_out = streamscore("consume", "--topic", "score-batches", "-n", "1", env=env)
        assert "event_id" in table_out.stdout.splitlines()[0]

        listed = streamscore("dlq", "list", "--json", env=env)
        letters = [json.loads(line) for line in listed.stdout.splitlines()]
        assert len(letters) == len(junk)
        assert all(letter["stage"] == "parse" and letter["reason"] for letter in letters)

        replayed = streamscore("dlq", "replay", "--stage", "parse", env=env)
        assert f"replayed {len(junk)} dead letters" in replayed.stdout
        reader.wait_for(2 * n_user_events, 2 * len(junk), timeout=120, workers=[worker])
        assert sum(reader.dead.values()) == 2 * len(junk)  # still junk: dead again, not lost
    finally:
        stop(worker)
        reader.close()
