"""Simulation output: Parquet files for offline work, payload batches for a Kafka producer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from models.simulate.engine import LABEL_SCHEMA, SimResult
from schemas.events import EVENT_SCHEMA

__all__ = [
    "TOPIC_KEYS",
    "PayloadBatch",
    "iter_payload_batches",
    "read_simulation",
    "send_payloads",
    "write_simulation",
]

PayloadKind = Literal["activity", "raw_logs", "outcomes"]
_KINDS: tuple[PayloadKind, ...] = ("activity", "raw_logs", "outcomes")


@dataclass(frozen=True)
class PayloadBatch:
    """Payloads of one kind, in time order, ready for a producer: ``keys[i]`` is the entity."""

    kind: PayloadKind
    payloads: list[bytes]
    keys: list[bytes]
    ts_ms: np.ndarray


def write_simulation(result: SimResult, out_dir: Path) -> dict[str, Path]:
    """Write ``events.parquet``, ``labels.parquet``, ``raw_logs.txt`` and ``config.json``.

    Each file is written to a temporary name then renamed, so a crash leaves no half file.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "events": out_dir / "events.parquet",
        "labels": out_dir / "labels.parquet",
        "raw_logs": out_dir / "raw_logs.txt",
        "config": out_dir / "config.json",
    }

    def commit(path: Path, write) -> None:
        tmp = path.with_name(path.name + ".tmp")
        write(tmp)
        tmp.replace(path)

    commit(paths["events"], lambda p: pq.write_table(result.events, p))
    commit(paths["labels"], lambda p: pq.write_table(result.labels, p))
    commit(paths["raw_logs"], lambda p: p.write_bytes(b"\n".join(result.raw_logs) + b"\n"))
    from dataclasses import asdict

    commit(paths["config"], lambda p: p.write_text(json.dumps(asdict(result.config), indent=2)))
    return paths


def read_simulation(out_dir: Path) -> tuple[pa.Table, pa.Table]:
    """Events and labels written by :func:`write_simulation` (or as Spark writes them: folders
    of part files, nullable columns), schema-checked."""
    events = pq.read_table(Path(out_dir) / "events.parquet")
    labels = pq.read_table(Path(out_dir) / "labels.parquet")
    from streams.errors import ConfigError

    out = []
    for name, table, schema in (("events", events, EVENT_SCHEMA), ("labels", labels, LABEL_SCHEMA)):
        loose = pa.schema([f.with_nullable(True) for f in schema])
        found = pa.schema([f.with_nullable(True) for f in table.schema])
        if not found.equals(loose):  # Spark writes every column nullable: same otherwise
            raise ConfigError(
                f"reading simulation {name} from {out_dir}: expected schema {schema}, "
                f"found {table.schema}"
            )
        out.append(table.cast(schema) if not table.schema.equals(schema) else table)
    return out[0], out[1]


def _activity_json(rows: pa.Table) -> list[bytes]:
    ids = rows["event_id"].to_pylist()
    users = rows["user_id"].to_pylist()
    ts = rows["ts_ms"].to_pylist()
    types = rows["event_type"].to_pylist()
    props = rows["properties"].to_pylist()
    # Properties are already compact JSON objects; splice them in rather than re-encode.
    return [
        (
            f'{{"event_id":"{i}","user_id":"{u}","ts":{t},"type":"{k}"'
            + (f',"properties":{p}}}' if p is not None else "}")
        ).encode()
        for i, u, t, k, p in zip(ids, users, ts, types, props, strict=True)
    ]


def _outcome_json(rows: pa.Table) -> list[bytes]:
    names = ("task", "entity", "decision_ts_ms", "label_ts_ms", "label")
    cols = [rows[c].to_pylist() for c in names]
    return [
        f'{{"task":"{k}","entity":"{e}","decision_ts":{d},"label_ts":{t},"label":{y}}}'.encode()
        for k, e, d, t, y in zip(*cols, strict=True)
    ]


def iter_payload_batches(result: SimResult, batch_size: int = 1000) -> Iterator[PayloadBatch]:
    """Everything a producer sends, in time order: activity JSON (``event_id``, ``user_id``,
    ``ts`` epoch ms, ``type``, ``properties``), raw log lines, and outcome JSON at label time.

    Time is cut into windows of ``batch_size`` payloads; each window yields one batch per kind
    present in it, so a consumer sees labels after the events that precede them.
    """
    events = result.events
    is_act = pa.compute.equal(events["source"], "activity").to_numpy(zero_copy_only=False)
    act_rows = np.flatnonzero(is_act)
    ev_ts = events["ts_ms"].to_numpy()
    lab_ts = result.labels["label_ts_ms"].to_numpy()
    kind = np.concatenate(
        [
            np.zeros(act_rows.size, np.int8),
            np.ones(len(result.raw_log_rows), np.int8),
            np.full(lab_ts.size, 2, np.int8),
        ]
    )
    row = np.concatenate([act_rows, np.arange(len(result.raw_log_rows)), np.arange(lab_ts.size)])
    ts = np.concatenate([ev_ts[act_rows], ev_ts[result.raw_log_rows], lab_ts])
    order = np.argsort(ts, kind="stable")
    kind, row, ts = kind[order], row[order], ts[order]
    for start in range(0, len(order), batch_size):
        sl = slice(start, start + batch_size)
        for k in range(3):
            sel = kind[sl] == k
            if not sel.any():
                continue
            rows, t = row[sl][sel], ts[sl][sel]
            if k == 0:
                tab = events.take(rows)
                payloads, keys = _activity_json(tab), tab["entity"].to_pylist()
            elif k == 1:
                payloads = [result.raw_logs[i] for i in rows.tolist()]
                keys = events.take(result.raw_log_rows[rows])["entity"].to_pylist()
            else:
                tab = result.labels.take(rows)
                payloads, keys = _outcome_json(tab), tab["entity"].to_pylist()
            yield PayloadBatch(_KINDS[k], payloads, [key.encode() for key in keys], t)


TOPIC_KEYS: dict[str, str] = {
    "activity": "activity",
    "raw_logs": "raw-logs",
    "outcomes": "outcomes",
}
"""Payload kind -> logical topic key of ``streams.topics.TOPICS``."""


def send_payloads(
    result: SimResult,
    producer,
    topic_for: dict[str, str],
    batch_size: int = 1000,
    progress: bool = False,
) -> dict[str, int]:
    """Produce every payload of :func:`iter_payload_batches` with ``producer`` (a
    confluent-kafka Producer, e.g. ``streams.kafka.clients.make_producer``) to
    ``topic_for[kind]``, keyed by entity, then flush. Returns records sent per kind.

    Raises :class:`streams.errors.KafkaSetupError` when records remain undelivered or fail.
    """
    from streams.errors import KafkaSetupError

    failed: list[str] = []

    def on_delivery(err, _msg) -> None:
        if err is not None:
            failed.append(str(err))

    counts = dict.fromkeys(_KINDS, 0)
    batches = iter_payload_batches(result, batch_size)
    if progress:
        from tqdm import tqdm

        batches = tqdm(batches, desc="produce", unit="batch")
    for batch in batches:
        topic = topic_for[batch.kind]
        for value, key, ts in zip(batch.payloads, batch.keys, batch.ts_ms.tolist(), strict=True):
            while True:
                try:
                    producer.produce(
                        topic, value=value, key=key, timestamp=ts, on_delivery=on_delivery
                    )
                    break
                except BufferError:  # local queue full: let deliveries drain
                    producer.poll(0.1)
        producer.poll(0)
        counts[batch.kind] += len(batch.payloads)
    left = producer.flush(60.0)
    if left or failed:
        raise KafkaSetupError(
            f"producing the simulation: expected every record delivered, got {left} still "
            f"queued and {len(failed)} failed (first: {failed[:1]})"
        )
    return counts
