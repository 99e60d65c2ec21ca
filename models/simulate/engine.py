"""Run a simulation: population -> activity + machine logs -> one Arrow table and its labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from models.simulate.activity import TYPE_CODES, draw_activity
from models.simulate.logs import draw_logs
from models.simulate.params import DAY_MS, SimConfig
from models.simulate.population import Population, draw_population
from schemas.events import EVENT_SCHEMA, SourceFormat

__all__ = ["LABEL_SCHEMA", "SimResult", "simulate", "user_name"]

LABEL_SCHEMA = pa.schema(
    [
        pa.field("task", pa.string(), nullable=False),  # "churn" | "upsell"
        pa.field("entity", pa.string(), nullable=False),
        pa.field("decision_ts_ms", pa.int64(), nullable=False),
        pa.field("label_ts_ms", pa.int64(), nullable=False),
        pa.field("label", pa.int8(), nullable=False),
        pa.field("true_p", pa.float64(), nullable=False),
        pa.field("drifted", pa.bool_(), nullable=False),
    ]
)
"""Delayed labels: features must come from the entity's events strictly before
``decision_ts_ms``; the label becomes known at ``label_ts_ms``; ``true_p`` is the simulator's
probability of ``label == 1`` (the oracle's score)."""


def user_name(index: np.ndarray) -> np.ndarray:
    """User ids as strings (object array), e.g. ``u000042``."""
    return np.array([f"u{i:06d}" for i in np.asarray(index).tolist()], dtype=object)


@dataclass
class SimResult:
    """Events (``EVENT_SCHEMA``, sorted by ``ts_ms``), labels (``LABEL_SCHEMA``, sorted by
    ``label_ts_ms``) and the raw machine-log lines (``raw_logs[i]`` is the line of event row
    ``raw_log_rows[i]``)."""

    config: SimConfig
    events: pa.Table
    labels: pa.Table
    raw_logs: list[bytes]
    raw_log_rows: np.ndarray

    def task_labels(self, task: str) -> pa.Table:
        return self.labels.filter(pa.compute.equal(self.labels["task"], task))


def _labels(cfg: SimConfig, pop: Population) -> pa.Table:
    n = cfg.n_users
    users = user_name(np.arange(n))
    retained_ts = pop.decision_ts + cfg.horizon_days * DAY_MS
    churn_label_ts = np.where(pop.churned, pop.leave_ts, retained_ts)
    window = int(cfg.offer_response_days * DAY_MS)
    seen = pop.offer_accepted | pop.offer_declined_visible
    up_label_ts = np.where(seen, pop.offer_response_ts, pop.offer_ts + window)
    day = lambda ts: pop.drifted[np.minimum((ts - cfg.start_ms) // DAY_MS, cfg.days - 1)]  # noqa: E731
    table = pa.table(
        {
            "task": ["churn"] * n + ["upsell"] * len(pop.offer_ts),
            "entity": np.concatenate([users, users[pop.offer_user]]),
            "decision_ts_ms": np.concatenate([pop.decision_ts, pop.offer_ts]),
            "label_ts_ms": np.concatenate([churn_label_ts, up_label_ts]),
            "label": np.concatenate([pop.churned, pop.offer_accepted]).astype(np.int8),
            "true_p": np.concatenate([pop.churn_p, pop.offer_p]),
            "drifted": np.concatenate([day(pop.decision_ts), day(pop.offer_ts)]),
        },
        schema=LABEL_SCHEMA,
    )
    order = np.argsort(table["label_ts_ms"].to_numpy(), kind="stable")
    return table.take(order)


def simulate(config: SimConfig | None = None) -> SimResult:
    """Draw one seeded simulation (same config -> identical output)."""
    cfg = config or SimConfig()
    rng = np.random.default_rng(cfg.seed)
    pop = draw_population(cfg, rng)
    act = draw_activity(cfg, pop, rng)
    logs = draw_logs(cfg, rng)
    n_act, n_log = len(act.ts), len(logs.ts)
    users = user_name(act.user) if n_act else np.zeros(0, dtype=object)
    nulls = pa.nulls(n_act)
    activity = {
        "ts_ms": pa.array(act.ts, pa.int64()),
        "entity": pa.array(users, pa.string()),
        "source": pa.array(np.full(n_act, SourceFormat.ACTIVITY.value, dtype=object), pa.string()),
        "event_type": pa.DictionaryArray.from_arrays(
            pa.array(act.code, pa.int8()), pa.array(TYPE_CODES)
        ).dictionary_decode(),
        "user_id": pa.array(users, pa.string()),
        "properties": pa.array(act.properties, pa.string()),
    }
    machine = {
        "ts_ms": pa.array(logs.ts, pa.int64()),
        "entity": pa.array(logs.host, pa.string()),
        "source": pa.array(logs.source, pa.string()),
        "event_type": pa.array(["log"] * n_log, pa.string()),
        "host": pa.array(logs.host, pa.string()),
        "program": pa.array(logs.program, pa.string()),
        "pid": pa.array(logs.pid, pa.int32()),
        "severity": pa.array(logs.severity, pa.int8()),
        "action": pa.array(logs.action, pa.string()),
        "package": pa.array(logs.package, pa.string()),
        "version": pa.array(logs.version, pa.string()),
        "message": pa.array(logs.message, pa.string()),
    }
    columns = {}
    for field in EVENT_SCHEMA:
        if field.name == "event_id":
            continue
        a = activity.get(field.name, nulls)
        m = machine.get(field.name, pa.nulls(n_log))
        columns[field.name] = pa.concat_arrays([a.cast(field.type), m.cast(field.type)])
    ts = columns["ts_ms"].to_numpy()
    order = np.argsort(ts, kind="stable")
    table = pa.table(columns).take(order)
    ids = pa.compute.binary_join_element_wise(  # ids follow time order: s<seed>-<row>
        f"s{cfg.seed}-", pa.array(np.arange(len(ts), dtype=np.int64)).cast(pa.string()), ""
    )
    table = table.add_column(0, "event_id", ids)
    table = pa.Table.from_arrays(
        [table[f.name].combine_chunks() for f in EVENT_SCHEMA], schema=EVENT_SCHEMA
    )
    # Where each machine-log line ended up after sorting, so payloads can be replayed in order.
    position = np.empty(len(ts), dtype=np.int64)
    position[order] = np.arange(len(ts))
    return SimResult(cfg, table, _labels(cfg, pop), logs.raw, position[n_act:])
