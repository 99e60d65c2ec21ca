"""Local Apache Kafka tooling: fetch, start, stop and inspect a single-node KRaft broker."""

from streams.kafka.local import (
    broker_down,
    broker_logs,
    broker_status,
    broker_up,
    resolve_bootstrap,
    wait_until_ready,
)

__all__ = [
    "broker_down",
    "broker_logs",
    "broker_status",
    "broker_up",
    "resolve_bootstrap",
    "wait_until_ready",
]
