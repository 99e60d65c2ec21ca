"""Parse throughput of streams.etl.parse_batch against naive baselines, side by side in one run.

Run:  .venv/bin/python tests/benchmarks/bench_parsers.py [--events N] [--batch B] [--repeats R]

Workloads (seeded, generated in memory):
  syslog   RFC 3164 lines with PRI, increasing times, 50 hosts, 20 programs, pids
  activity activity JSON events (all 12 types, half with a small properties object)
  arrow    the same activity events as Arrow IPC payloads of B rows each
For each, times (best of R) the whole workload cut into micro-batches of B payloads:
  naive    json.loads / a named-group regex + datetime.strptime per line, a dict per event,
           pa.RecordBatch.from_pylist per batch (what one writes first)
  etl      streams.etl.parse_batch (orjson, precompiled regexes, column lists, one Arrow
           array per column per batch)
and, when the feature pipeline is importable, etl + FittedPipeline.transform (default spec).
Prints events/s, the ratio to naive, and whether the 200k/s single-core targets are met.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from schemas.events import ACTIVITY_TYPES, EVENT_SCHEMA  # noqa: E402
from streams.etl import ParseOptions, TopicOrigin, parse_batch  # noqa: E402

REF_MS = 1_764_000_000_000  # 2025-11-24, the 3164 year reference
_PROGRAMS = ["sshd", "CRON", "systemd", "kernel", "sudo", "postfix/smtpd", "nginx", "dockerd",
             "containerd", "rsyslogd", "dhclient", "ntpd", "snapd", "polkitd", "dbus-daemon",
             "su", "login", "apt", "unattended-upgrade", "NetworkManager"]  # fmt: skip
_MSGS = ["Accepted publickey for deploy from 10.0.{a}.{b} port {p} ssh2",
         "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
         "Started Session {p} of User deploy.", "Failed password for invalid user admin from "
         "192.168.{a}.{b} port {p} ssh2", "connect from unknown[10.1.{a}.{b}]",
         "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)"]  # fmt: skip


def syslog_lines(n: int, rng: random.Random) -> list[bytes]:
    t = REF_MS - 30 * 86_400_000
    out = []
    for _ in range(n):
        t += rng.randrange(0, 40)
        stamp = datetime.fromtimestamp(t / 1000, UTC).strftime("%b %e %H:%M:%S")
        prog = rng.choice(_PROGRAMS)
        msg = rng.choice(_MSGS).format(a=rng.randrange(256), b=rng.randrange(256),
                                       p=rng.randrange(1024, 65535))  # fmt: skip
        pid = rng.randrange(1, 99999)
        line = f"<{rng.randrange(192)}>{stamp} host{rng.randrange(50):02d} {prog}[{pid}]: {msg}"
        out.append(line.encode())
    return out


def activity_events(n: int, rng: random.Random) -> list[dict]:
    t = REF_MS - 30 * 86_400_000
    out = []
    for k in range(n):
        t += rng.randrange(0, 50)
        ev = {"event_id": f"ev-{k:09d}", "user_id": f"user-{rng.randrange(100_000):06d}",
              "ts": t, "type": rng.choice(ACTIVITY_TYPES)}  # fmt: skip
        if k % 2:
            ev["properties"] = {"amount": round(rng.random() * 100, 2), "plan": "pro"}
        out.append(ev)
    return out


def ipc_payloads(events: list[dict], batch: int) -> list[bytes]:
    out = []
    for s in range(0, len(events), batch):
        rows = events[s : s + batch]
        table = pa.table({
            "event_id": [e["event_id"] for e in rows],
            "user_id": [e["user_id"] for e in rows],
            "ts": pa.array([e["ts"] for e in rows], pa.int64()),
            "type": [e["type"] for e in rows],
            "properties": [json.dumps(e.get("properties")) if "properties" in e else None
                           for e in rows],
        })  # fmt: skip
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as w:
            w.write_table(table)
        out.append(sink.getvalue().to_pybytes())
    return out


# ---- naive baselines -------------------------------------------------------------------------
_NAIVE_3164 = re.compile(
    r"<(?P<pri>\d+)>(?P<ts>\w{3} [ \d]\d \d\d:\d\d:\d\d) (?P<host>\S+) "
    r"(?P<prog>[^\[:]+)\[(?P<pid>\d+)\]: (?P<msg>.*)"
)


def naive_syslog(payloads: list[bytes]) -> pa.RecordBatch:
    rows = []
    for raw in payloads:
        m = _NAIVE_3164.match(raw.decode())
        d = m.groupdict()
        ts = datetime.strptime(f"2025 {d['ts']}", "%Y %b %d %H:%M:%S").replace(tzinfo=UTC)
        rows.append({"event_id": str(hash(raw)), "ts_ms": int(ts.timestamp() * 1000),
                     "entity": d["host"], "source": "syslog3164", "event_type": "log",
                     "host": d["host"], "program": d["prog"], "pid": int(d["pid"]),
                     "severity": int(d["pri"]) % 8, "message": d["msg"]})  # fmt: skip
    return pa.RecordBatch.from_pylist(rows, schema=EVENT_SCHEMA)


def naive_activity(payloads: list[bytes]) -> pa.RecordBatch:
    rows = []
    for raw in payloads:
        d = json.loads(raw)
        if not isinstance(d.get("ts"), int) or d.get("type") not in ACTIVITY_TYPES:
            continue
        props = d.get("properties")
        rows.append({"event_id": d["event_id"], "ts_ms": d["ts"], "entity": d["user_id"],
                     "source": "activity", "event_type": d["type"], "user_id": d["user_id"],
                     "properties": json.dumps(props) if props is not None else None})  # fmt: skip
    return pa.RecordBatch.from_pylist(rows, schema=EVENT_SCHEMA)


# ---- timing ----------------------------------------------------------------------------------
def best_rate(fn: Callable[[list[bytes]], object], payloads: list[bytes], batch: int,
              repeats: int, n_events: int) -> float:  # fmt: skip
    chunks = [payloads[s : s + batch] for s in range(0, len(payloads), batch)]
    fn(chunks[0])  # warm-up: regex compile, caches, imports
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for c in chunks:
            fn(c)
        best = min(best, time.perf_counter() - t0)
    return n_events / best


def _pipelines(sample_activity: pa.RecordBatch, sample_logs: pa.RecordBatch):
    """Fitted default activity and logs pipelines (streams.features), or None if not there."""
    try:
        from streams.features import FeaturePipeline, FeatureSpec
    except ImportError:
        return None
    act = FeaturePipeline(FeatureSpec.default("activity"), "cpu").fit(sample_activity)
    logs = FeaturePipeline(FeatureSpec.default("logs"), "cpu").fit(sample_logs)
    return act, logs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rng = random.Random(42)
    n, b, r = args.events, args.batch, args.repeats
    opts = ParseOptions(reference_ms=REF_MS)
    origin = TopicOrigin("bench", 0, 0)

    syslog = syslog_lines(n, rng)
    events = activity_events(n, rng)
    activity = [json.dumps(e).encode() for e in events]
    ipc = ipc_payloads(events, b)

    def etl(fmt: str) -> Callable[[list[bytes]], object]:
        return lambda p: parse_batch(p, fmt, origin, options=opts)

    print(f"{n} events per workload, micro-batches of {b}, best of {r}; one core\n")
    print(f"{'workload':<10} {'variant':<28} {'events/s':>12} {'vs naive':>9}")
    results: dict[str, float] = {}
    for name, payloads, naive, fmt in [
        ("syslog", syslog, naive_syslog, "syslog3164"),
        ("activity", activity, naive_activity, "activity"),
    ]:
        base = best_rate(naive, payloads, b, r, n)
        fast = best_rate(etl(fmt), payloads, b, r, n)
        auto = best_rate(etl("auto"), payloads, b, r, n)
        results[name] = fast
        print(f"{name:<10} {'naive (json/strptime+dict)':<28} {base:>12,.0f} {1.0:>8.2f}x")
        print(f"{name:<10} {'parse_batch(' + fmt + ')':<28} {fast:>12,.0f} {fast / base:>8.2f}x")
        print(f"{name:<10} {'parse_batch(auto)':<28} {auto:>12,.0f} {auto / base:>8.2f}x")
    arrow = best_rate(etl("arrow"), ipc, 1, r, n)
    print(f"{'arrow':<10} {'parse_batch(arrow), B rows':<28} {arrow:>12,.0f}")

    fitted = _pipelines(etl("activity")(activity[:b]).events, etl("syslog3164")(syslog[:b]).events)
    if fitted is not None:
        act, logs = fitted
        for name, payloads, fmt, pipe in [("syslog", syslog, "syslog3164", logs),
                                          ("activity", activity, "activity", act),
                                          ("arrow", ipc, "arrow", act)]:  # fmt: skip
            state = pipe.new_state(200_000)

            def run(p, fmt=fmt, pipe=pipe, state=state):
                return pipe.transform(parse_batch(p, fmt, origin, options=opts).events, state)

            rate = best_rate(run, payloads, 1 if name == "arrow" else b, r, n)
            results[name + "+transform"] = rate
            label = f"parse+transform ({pipe.spec.name})"
            print(f"{name:<10} {label:<28} {rate:>12,.0f}   {len(pipe.names)} features")
    else:
        print("(streams.features not importable: parse+transform not measured)")
    print()
    for name in ("syslog", "activity", "syslog+transform", "activity+transform"):
        if name in results:
            met = "met" if results[name] >= 200_000 else "NOT met"
            print(f"target {name} >= 200,000/s on one core: {met} ({results[name]:,.0f}/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
