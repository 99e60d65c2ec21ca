"""The simulator's payloads, parsed by the real ETL parsers, give back exactly the simulator's
events: what the models train on offline is what the stream path sees online."""

from __future__ import annotations

import orjson
import pyarrow.compute as pc

from models.simulate import SimConfig, iter_payload_batches, simulate
from streams.etl import FileOrigin, ParseOptions, parse_batch


def test_parsed_payloads_equal_the_simulated_events():
    sim = simulate(
        SimConfig(
            n_users=40, days=21, decision_min_day=14, n_hosts=2, log_lines_per_host_day=30, seed=3
        )
    )
    acts, logs, hosts = [], [], []
    for batch in iter_payload_batches(sim, 5000):
        if batch.kind == "activity":
            acts += batch.payloads
        elif batch.kind == "raw_logs":
            logs += batch.payloads
            hosts += [k.decode() for k in batch.keys]

    parsed = parse_batch(acts, "activity", FileOrigin("sim-activity"))
    assert parsed.rejected == []
    want = sim.events.filter(pc.equal(sim.events["source"], "activity"))
    for col in ("event_id", "ts_ms", "entity", "event_type", "user_id"):
        assert parsed.events[col].equals(want[col].combine_chunks()), col
    for got, exp in zip(
        parsed.events["properties"].to_pylist(), want["properties"].to_pylist(), strict=True
    ):
        assert orjson.loads(got or "null") == orjson.loads(exp or "null")

    opts = ParseOptions(reference_ms=sim.config.end_ms)  # RFC 3164 lines carry no year
    parsed_logs = parse_batch(logs, "auto", FileOrigin("sim-logs"), options=opts, hosts=hosts)
    assert parsed_logs.rejected == []
    want_logs = sim.events.take(sim.raw_log_rows)
    for col in (
        "ts_ms",
        "entity",
        "source",
        "program",
        "pid",
        "severity",
        "action",
        "package",
        "version",
        "message",
    ):
        assert parsed_logs.events[col].equals(want_logs[col].combine_chunks()), col
