"""Seeded synthetic event tables in the EVENT_SCHEMA contract, for feature tests/benchmarks."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.events import ACTIVITY_TYPES, EVENT_SCHEMA

T0 = 1_700_000_000_000
PLANS = np.array(["free", "basic", "pro", "team"])


def _table(n: int, columns: dict[str, pa.Array]) -> pa.Table:
    return pa.table(
        [columns.get(f.name, pa.nulls(n, f.type)) for f in EVENT_SCHEMA], schema=EVENT_SCHEMA
    )


def activity_table(n: int, seed: int = 0, n_users: int = 200, late: float = 0.05) -> pa.Table:
    """Activity events in arrival order: mostly increasing times, a few late; JSON properties
    built with Arrow string kernels (fast enough for 1M rows)."""
    rng = np.random.default_rng(seed)
    ts = T0 + np.cumsum(rng.exponential(30_000.0, size=n)).astype(np.int64)
    ts -= ((rng.random(n) < late) * rng.integers(0, 7_200_000, size=n)).astype(np.int64)
    kinds = rng.choice(np.array(ACTIVITY_TYPES + ("mystery",)), size=n)
    users = np.char.add("u", rng.integers(0, n_users, size=n).astype(str))
    amount = np.round(rng.gamma(2.0, 10.0, size=n), 2).astype(str)
    plan = rng.choice(PLANS, size=n)
    props = np.char.add(np.char.add(np.char.add('{"plan":"', plan), '","amount":'), amount)
    props = np.char.add(props, "}")
    props_arr = pa.array(props)
    no_props = pa.array(rng.random(n) < 0.2)
    props_arr = pc.if_else(no_props, pa.scalar(None, pa.string()), props_arr)
    return _table(
        n,
        {
            "event_id": pa.array(np.char.add("e", np.arange(n).astype(str))),
            "ts_ms": pa.array(ts, pa.int64()),
            "entity": pa.array(users),
            "source": pa.array(np.full(n, "activity")),
            "event_type": pa.array(kinds),
            "user_id": pa.array(users),
            "properties": props_arr,
        },
    )


def log_table(n: int, seed: int = 0, n_hosts: int = 20) -> pa.Table:
    """Machine-log events (syslog/dpkg-like) keyed by host."""
    rng = np.random.default_rng(seed)
    ts = T0 + np.cumsum(rng.exponential(2_000.0, size=n)).astype(np.int64)
    hosts = np.char.add("host", rng.integers(0, n_hosts, size=n).astype(str))
    words = np.array(
        [
            "Failed",
            "password",
            "for",
            "root",
            "from",
            "port",
            "sshd",
            "error",
            "disk",
            "full",
            "status",
            "installed",
            "cowsay:all",
            "3.03",
            "é日本",
        ]
    )
    msg = rng.choice(words, size=(n, 5))
    message = np.char.add(np.char.add(msg[:, 0], " "), msg[:, 1])
    for k in range(2, 5):
        message = np.char.add(np.char.add(message, " "), msg[:, k])
    message = np.char.add(message, rng.integers(0, 65536, size=n).astype(str))
    return _table(
        n,
        {
            "event_id": pa.array(np.char.add("l", np.arange(n).astype(str))),
            "ts_ms": pa.array(ts, pa.int64()),
            "entity": pa.array(hosts),
            "source": pa.array(rng.choice(np.array(["syslog3164", "dpkg", "access_log"]), n)),
            "event_type": pa.array(np.full(n, "log")),
            "host": pa.array(hosts),
            "program": pa.array(rng.choice(np.array(["sshd", "dpkg", "cron", "nginx"]), n)),
            "severity": pa.array(rng.integers(0, 8, size=n).astype(np.int8)),
            "action": pa.array(rng.choice(np.array(["install", "upgrade", "remove", ""]), n)),
            "message": pa.array(message),
        },
    )
