"""The parsers against the simulator (models.simulate): its raw payloads, parsed here, must give
back exactly the events it says it sent. Catches drift between producer and consumer."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from models.simulate.engine import simulate
from models.simulate.output import iter_payload_batches
from models.simulate.params import SimConfig
from streams.etl import ParseOptions, TopicOrigin, parse_batch

CFG = SimConfig(n_users=150, n_hosts=3, days=14, decision_min_day=7, log_lines_per_host_day=15)


def test_simulated_payloads_parse_to_the_simulated_events():
    result = simulate(CFG)
    events = result.events.combine_chunks()
    opts = ParseOptions(reference_ms=CFG.start_ms + CFG.days * 86_400_000)
    parsed = {"activity": [], "raw_logs": []}
    for batch in iter_payload_batches(result, batch_size=500):
        if batch.kind in parsed:
            hosts = [k.decode() for k in batch.keys] if batch.kind == "raw_logs" else None
            pb = parse_batch(batch.payloads, "auto", TopicOrigin(batch.kind, 0, 0),
                             options=opts, hosts=hosts)  # fmt: skip
            assert not pb.rejected, pb.rejected[:3]
            parsed[batch.kind].append(pb.events)
    got_act = pa.Table.from_batches(parsed["activity"])
    want_act = events.filter(pc.equal(events["source"], "activity"))
    got_logs = pa.Table.from_batches(parsed["raw_logs"])
    want_logs = events.take(pa.array(result.raw_log_rows))
    assert got_act.num_rows == want_act.num_rows > 0 and got_logs.num_rows == want_logs.num_rows > 0
    for got, want, columns in (
        (got_act, want_act, ["event_id", "ts_ms", "entity", "user_id", "event_type", "properties"]),
        (got_logs, want_logs, ["ts_ms", "entity", "source", "host", "program", "pid", "severity",
                               "action", "package", "version", "message"]),
    ):  # fmt: skip
        for name in columns:
            a, b = got.column(name).combine_chunks(), want.column(name).combine_chunks()
            assert a.equals(b.cast(a.type)), name
