"""Prometheus metrics of a streamscore process, declared once.

Every metric the engine exports is defined here, in prometheus-client's default registry, so the
worker, the retraining task and the GUI agree on names and labels. Label values stay low in
cardinality: topics, stages, models, tasks, features and short reason *classes* (never free text
or entity ids). Update them per batch, not per event: ``counter.inc(n)``, ``histogram.observe``
on a batch statistic, or :func:`observe_many` for a batch of values.
"""

from __future__ import annotations

import re

import numpy as np
from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "BATCH_SIZE",
    "CONSUMER_LAG",
    "DEAD_LETTERS",
    "END_TO_END_LATENCY",
    "EVENTS_IN",
    "EVENTS_NOT_SCORED",
    "FALLBACKS",
    "FEATURE_DRIFT",
    "MODEL_DEGRADED",
    "MODEL_VERSION",
    "RECORDS_OUT",
    "RETRAINS",
    "SCORES",
    "SCORE_DRIFT",
    "STAGE_LATENCY",
    "observe_many",
    "reason_class",
    "set_degraded",
]

# Up to 5 min: a worker's first batch (JIT, model load) or a backlog keeps records waiting for
# tens of seconds, and the GUI's p50/p99 can only say "more than the top bucket" beyond it.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    30.0, 60.0, 300.0)  # fmt: skip

EVENTS_IN = Counter("streamscore_events_in", "Records read from an input topic.", ["topic"])
RECORDS_OUT = Counter("streamscore_records_out", "Records produced to an output topic.", ["topic"])
BATCH_SIZE = Histogram(
    "streamscore_batch_size",
    "Records per micro-batch taken by an agent.",
    ["role"],
    buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000, 50000),
)
STAGE_LATENCY = Histogram(
    "streamscore_stage_seconds",
    "Wall time of one micro-batch in a pipeline stage (parse, featurise, score, encode, publish).",
    ["stage"],
    buckets=_LATENCY_BUCKETS,
)
END_TO_END_LATENCY = Histogram(
    "streamscore_end_to_end_seconds",
    "Input record timestamp to its result being queued for output.",
    buckets=_LATENCY_BUCKETS,
)
SCORES = Histogram(
    "streamscore_score",
    "Scores published per model (champions; shadows are labelled role=shadow).",
    ["task", "role"],
    buckets=tuple(np.round(np.linspace(0.1, 1.0, 10), 2)),
)
EVENTS_NOT_SCORED = Counter(
    "streamscore_events_not_scored",
    "Events a champion gave no score by design: their entity is of a kind the model does not "
    "score (a host for churn and upsell, which score users). Not missing: counted here instead.",
    ["task", "entity_kind"],
)
FALLBACKS = Counter(
    "streamscore_fallbacks",
    "Results served by a fallback (previous version or baseline) instead of the champion.",
    ["task", "served_by"],
)
DEAD_LETTERS = Counter(
    "streamscore_dead_letters",
    "Records sent to the dead-letter topic, by stage and reason class.",
    ["stage", "reason"],
)
CONSUMER_LAG = Gauge(
    "streamscore_consumer_lag",
    "Highwater minus the next offset to read, per assigned input partition.",
    ["topic", "partition"],
)
MODEL_VERSION = Gauge(
    "streamscore_model_version",
    "1 for the model version a worker serves in a role (champion, shadow), else absent.",
    ["task", "version", "role"],
)
MODEL_DEGRADED = Gauge(
    "streamscore_model_degraded",
    "1 for a loaded model a worker serves without one of its optional artifacts (a corrupt "
    "LiteRT export: the Keras model serves instead), by task and candidate (version/part).",
    ["task", "served_by"],
)
RETRAINS = Counter(
    "streamscore_retrains",
    "Retraining runs by outcome (promoted, shadow, discarded, failed).",
    ["task", "outcome"],
)
FEATURE_DRIFT = Gauge(
    "streamscore_feature_drift_psi",
    "Population stability index of a feature on the stream against its serving reference "
    "(the snapshots after a warm-up; see streams.learning.drift).",
    ["task", "feature"],
)
SCORE_DRIFT = Gauge(
    "streamscore_score_drift_psi",
    "Population stability index of the champion's scores against its serving reference.",
    ["task"],
)


def observe_many(histogram: Histogram, values: np.ndarray) -> None:
    """Add a batch of observations to an unlabelled (or already labelled) histogram at once.

    prometheus-client has no bulk observe; this bins with NumPy and adds the counts to the
    histogram's buckets and sum, which is what ``len(values)`` calls to ``observe`` would do.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if not len(values):
        return
    bounds = np.asarray(histogram._upper_bounds, dtype=np.float64)
    counts = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds))
    for bucket, n in zip(histogram._buckets, counts.tolist(), strict=True):
        if n:
            bucket.inc(n)
    histogram._sum.inc(float(values.sum()))


def set_degraded(degraded: dict[tuple[str, str], str]) -> None:
    """Export the degraded candidates of the model set now served (``(task, served_by) ->
    why``); those of the previous set are removed."""
    MODEL_DEGRADED.clear()
    for task, served_by in degraded:
        MODEL_DEGRADED.labels(task, served_by).set(1)


_DIGITS = re.compile(r"\d+")


def reason_class(reason: str) -> str:
    """A dead-letter reason's class, a low-cardinality label: the text before its first ':'
    (what was being read, e.g. ``"activity event field 'ts'"``), numbers replaced by ``N``,
    at most 60 characters. The details after the ':' (values, offsets) are left out."""
    head = reason.split(":", 1)[0].strip()
    return _DIGITS.sub("N", head)[:60] or "unknown"
