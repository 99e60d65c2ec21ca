"""A seeded mixed workload: activity JSON, Arrow batches, syslog, dpkg, Logstash JSON, and junk.

Every valid record carries unique event ids (log lines differ in content, so their content-hash
ids differ too), so a test can check "exactly one result per event and model" by id.
"""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass, field

import pyarrow as pa

from schemas.events import ACTIVITY_TYPES

T0 = 1_780_000_000_000  # 2026-05-28, a fixed "now" so years and windows are reproducible
PLANS = ("free", "basic", "pro")


@dataclass
class Workload:
    """Records to produce and what must come out."""

    json_activity: list[tuple[bytes, bytes]] = field(default_factory=list)  # (key, value)
    arrow_tables: list[pa.Table] = field(default_factory=list)
    log_lines: list[tuple[bytes, bytes]] = field(default_factory=list)  # (host key, line)
    malformed: list[tuple[str, bytes]] = field(default_factory=list)  # (topic key, value)
    event_ids: list[str] = field(default_factory=list)  # of valid activity events

    @property
    def n_valid_events(self) -> int:
        return len(self.event_ids) + len(self.log_lines)

    @property
    def n_user_events(self) -> int:
        """Valid events whose entity is a user: the activity events (the log lines name no
        user: their entity is a host). What a user model (churn, upsell) scores."""
        return len(self.event_ids)


def _activity(rng: random.Random, i: int, users: int, ts: int, tag: str) -> dict:
    event = {
        "event_id": f"{tag}-{i}",
        "user_id": f"u{rng.randrange(users):05d}",
        "ts": ts,
        "type": rng.choice(ACTIVITY_TYPES),
    }
    if event["type"] in ("purchase", "plan_change"):
        event["properties"] = {"plan": rng.choice(PLANS), "amount": round(rng.uniform(1, 50), 2)}
    return event


def _ipc(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


ARROW_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("user_id", pa.string()),
        ("ts", pa.int64()),
        ("type", pa.string()),
        ("properties", pa.string()),
    ]
)


def mixed_workload(
    n_events: int,
    seed: int = 11,
    malformed_frac: float = 0.01,
    users: int = 2000,
    hosts: int = 40,
    arrow_rows: int = 500,
) -> Workload:
    """About ``n_events`` valid events plus ``malformed_frac`` of that in malformed records.

    Shares: 45% activity JSON, 30% activity in Arrow batches of ``arrow_rows``, 10% syslog
    (3164 and 5424), 8% dpkg, 7% Logstash JSON documents.
    """
    rng = random.Random(seed)
    w = Workload()
    ts = T0
    n_json, n_arrow = int(n_events * 0.45), int(n_events * 0.30)
    n_syslog, n_dpkg = int(n_events * 0.10), int(n_events * 0.08)
    n_logstash = n_events - n_json - n_arrow - n_syslog - n_dpkg
    for i in range(n_json):
        ts += rng.randrange(1, 50)
        event = _activity(rng, i, users, ts, f"j{seed}")
        w.json_activity.append((event["user_id"].encode(), json.dumps(event).encode()))
        w.event_ids.append(event["event_id"])
    for start in range(0, n_arrow, arrow_rows):
        rows = []
        for i in range(start, min(n_arrow, start + arrow_rows)):
            ts += rng.randrange(1, 50)
            event = _activity(rng, i, users, ts, f"a{seed}")
            event["properties"] = json.dumps(event["properties"]) if "properties" in event else None
            rows.append(event)
            w.event_ids.append(event["event_id"])
        w.arrow_tables.append(pa.Table.from_pylist(rows, schema=ARROW_SCHEMA))
    for i in range(n_syslog):
        host = f"host{rng.randrange(hosts):02d}"
        if i % 2:
            line = (
                f"<{rng.randrange(8, 192)}>1 2026-05-28T10:{i // 3600 % 60:02d}:"
                f"{i // 60 % 60:02d}.{i % 1000:03d}Z {host} sshd {1000 + i} ID47 - "
                f"Accepted publickey for user{i}s{seed} port {20000 + i}"
            )
        else:
            line = (
                f"<{rng.randrange(8, 192)}>May 28 10:{i // 3600 % 60:02d}:{i // 60 % 60:02d} "
                f"{host} cron[{1000 + i}]: (root) CMD (job {i} of run {seed})"
            )
        w.log_lines.append((host.encode(), line.encode()))
    for i in range(n_dpkg):
        pkg = f"pkg{seed}x{i}"
        line = f"2026-05-28 11:{i // 60 % 60:02d}:{i % 60:02d} status installed {pkg}:amd64 1.{i}"
        w.log_lines.append((b"localhost", line.encode()))
    for i in range(n_logstash):
        host = f"scw-{rng.randrange(hosts):06x}"
        doc = {
            "message": f"2026-05-28 12:{i // 60 % 60:02d}:{i % 60:02d} status half-configured "
            f"lib{seed}x{i}:all 2.{i}",
            "@version": "1",
            "@timestamp": "2026-05-28T12:00:01.108Z",
            "type": "syslog",
            "host": host,
            "path": "/var/log/dpkg.log",
            "tags": ["_grokparsefailure"],
            "syslog_severity_code": 5,
            "syslog_facility_code": 1,
            "syslog_facility": "user-level",
            "syslog_severity": "notice",
        }
        w.log_lines.append((host.encode(), json.dumps(doc).encode()))
    n_bad = max(1, int(n_events * malformed_frac))
    junk = [
        ("activity", b'{"event_id": "x", "user_id": "u1", "ts": "2015-06-10", "type": "login"}'),
        ("activity", b'{"event_id": "y", "user_id": "u1", "ts": 17800000'),
        ("activity", b'{"event_id": "z", "user_id": "u1", "ts": 1780000000000, "type": "fly"}'),
        ("raw-logs", b"\xff\xfe\x00garbage\x80"),
        ("raw-logs", b"this is not any log format at all"),
        ("raw-logs", b""),
        ("activity", b"\xff\xff\xff\xff\x10\x00\x00\x00not arrow"),
    ]
    for i in range(n_bad):
        key, value = junk[i % len(junk)]
        w.malformed.append((key, value + str(i).encode() if value else value))
    return w


def arrow_payload(table: pa.Table) -> bytes:
    return _ipc(table)


def split(w: Workload, n: int) -> list[Workload]:
    """``w`` in ``n`` consecutive slices (each kind of record sliced in order)."""

    def part(items: list, i: int) -> list:
        size = -(-len(items) // n)
        return items[i * size : (i + 1) * size]

    out = []
    for i in range(n):
        tables = part(w.arrow_tables, i)
        json_part = part(w.json_activity, i)
        ids = [json.loads(v)["event_id"] for _, v in json_part]
        ids += [e for t in tables for e in t.column("event_id").to_pylist()]
        out.append(
            Workload(
                json_activity=json_part,
                arrow_tables=tables,
                log_lines=part(w.log_lines, i),
                malformed=part(w.malformed, i),
                event_ids=ids,
            )
        )
    return out
