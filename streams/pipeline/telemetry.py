"""The worker's Prometheus metrics: one update per micro-batch, a lag probe, and ``/metrics``.

Kept apart from :mod:`streams.pipeline.worker` so the agent loop only makes one call per batch
(:func:`record_batch`) and ``create_app`` one call at start (:func:`install`). The metrics
themselves are declared in :mod:`streams.metrics`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.metrics import (
    BATCH_SIZE,
    DEAD_LETTERS,
    END_TO_END_LATENCY,
    EVENTS_IN,
    EVENTS_NOT_SCORED,
    FALLBACKS,
    MODEL_VERSION,
    RECORDS_OUT,
    SCORES,
    STAGE_LATENCY,
    observe_many,
)
from streams.pipeline.records import BatchOutput, SourceRecords
from streams.settings import Settings
from streams.web.auth import token_matches

__all__ = ["install", "record_batch"]

_log = logging.getLogger(__name__)

_served: dict[tuple[str, str], str] = {}  # (task, role) -> version last exported


def record_batch(
    role: str,
    records: SourceRecords,
    out: BatchOutput,
    outputs: Mapping[str, str],
    publish_s: float,
) -> None:
    """Count one batch: records in and out, batch size, stage and end-to-end latency, scores,
    events not scored by design (their entity kind), fallbacks, dead letters and the model
    versions that served it.

    ``outputs`` maps the output keys (scores, score-batches, features, dead-letters,
    changelog) to topic names; ``publish_s`` is the time it took to queue the results.
    Results are counted when queued: under exactly-once a batch whose transaction aborts is
    read and counted again, so after a crash the counters can exceed what was committed.
    """
    n = len(records)
    EVENTS_IN.labels(records.topic).inc(n)
    BATCH_SIZE.labels(role).observe(n)
    parts = out.partitions.values()
    produced = {
        "scores": sum(len(p.scores) for p in parts),
        "score-batches": sum(len(p.score_batches) for p in parts),
        "features": sum(len(p.features) for p in parts),
        "dead-letters": sum(len(p.dead_letters) for p in parts),
        "changelog": sum(len(p.state_rows) for p in parts),
    }
    for key, count in produced.items():
        if count:
            RECORDS_OUT.labels(outputs[key]).inc(count)
    stats = out.stats
    for stage, seconds in stats.stage_seconds.items():
        STAGE_LATENCY.labels(stage).observe(seconds)
    STAGE_LATENCY.labels("publish").observe(publish_s)
    stamps = records.timestamps_ms[records.timestamps_ms >= 0]
    if len(stamps):
        observe_many(END_TO_END_LATENCY, (time.time_ns() // 1_000_000 - stamps) / 1000.0)
    for task, scores in stats.scores.items():
        observe_many(SCORES.labels(task, "champion"), scores)
    for (task, kind), count in stats.not_scored.items():
        EVENTS_NOT_SCORED.labels(task, kind).inc(count)
    for (task, served_by), count in stats.fallbacks.items():
        FALLBACKS.labels(task, served_by).inc(count)
    for (stage, reason), count in stats.dead_letters.items():
        DEAD_LETTERS.labels(stage, reason).inc(count)
    _export_versions(stats.models)


def _export_versions(models: Iterable[tuple[str, str, str]]) -> None:
    for task, version, role in models:
        old = _served.get((task, role))
        if old == version:
            continue
        if old is not None:  # a hot swap: the old version no longer serves in this role
            MODEL_VERSION.remove(task, old, role)
        MODEL_VERSION.labels(task, version, role).set(1)
        _served[(task, role)] = version


def install(app: faust.App, settings: Settings) -> None:
    """Serve ``/metrics`` on the worker's web server (when it is on). The consumer lag is
    exported by the scoring loop's consumer (:mod:`streams.pipeline.consume`)."""
    if settings.web_port > 0:

        @app.page("/metrics")
        async def metrics(self, request):
            token = settings.web_token.get_secret_value() if settings.web_token else None
            if not token_matches(token, request.headers, request.query):
                return self.text("a web token is required\n", status=401)
            # aiohttp refuses a charset inside content_type; the header carries it whole.
            return self.bytes(generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
