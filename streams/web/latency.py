"""End-to-end latency per interval, as percentiles, from the workers' Prometheus histograms.

A worker observes ``streamscore_end_to_end_seconds`` for every input record: from the record's
Kafka timestamp (when it reached Kafka: the input topics use ``LogAppendTime``, so the broker's
clock, not a producer's idea of the event's time) to its results being queued for output. The
GUI scrapes the cumulative buckets every probe and turns the difference between two scrapes
into that interval's p50 and p99 (linear within a bucket, as Prometheus' ``histogram_quantile``
does). A mean would let one backlog record of an hour flatten every later point; a percentile
of the interval does not.

Rules that keep the chart readable:

- The first scrape is a baseline, never a point (the cumulative counts hold the worker's whole
  life, backlogs included).
- A count that went down (a worker restarted, or one stopped answering) starts a new baseline.
- A quantile that falls in the ``+Inf`` bucket is reported as the top finite bound, flagged
  ``p50_over``/``p99_over`` (the page says "> 300,000 ms").
- :func:`axis_max_ms` scales the axis to the recent points only, so an early spike scrolls off.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["E2E", "IntervalLatency", "axis_max_ms", "bucket_quantile"]

E2E = "streamscore_end_to_end_seconds"
RECENT_S = 30.0
"""Seconds of points the latency axis is scaled to."""


def bucket_quantile(bounds: Sequence[float], counts: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0 < q < 1) of observations counted per bucket: ``counts[i]`` fell in
    ``(bounds[i-1], bounds[i]]`` (``bounds`` ascending, the last may be ``inf``; the first bucket
    starts at 0). Linear within a bucket; ``nan`` when there are no observations; the top finite
    bound when the quantile falls in the ``+Inf`` bucket."""
    total = float(sum(counts))
    if total <= 0:
        return math.nan
    rank = q * total
    seen = 0.0
    for i, (upper, n) in enumerate(zip(bounds, counts, strict=True)):
        if n > 0 and seen + n >= rank:
            lower = bounds[i - 1] if i else 0.0
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * (rank - seen) / n
        seen += n
    return bounds[-2] if math.isinf(bounds[-1]) else bounds[-1]


class IntervalLatency:
    """Turns successive scrapes of cumulative histogram samples into per-interval points."""

    def __init__(self) -> None:
        self._last: dict[float, float] | None = None  # le -> cumulative count

    def update(self, samples: Iterable[tuple[str, Mapping[str, str], float]]) -> dict[str, Any]:
        """One scrape's samples (summed over the workers that answered) -> a point:
        ``{"p50": ms, "p99": ms, "n": records, "p50_over": bool, "p99_over": bool}`` (``_over``:
        beyond the top finite bucket, the value is that bound), or ``{}`` for a baseline or an
        interval without records."""
        buckets: dict[float, float] = {}
        for name, labels, value in samples:
            if name == E2E + "_bucket":
                le = float(labels.get("le", "nan"))
                if not math.isnan(le):
                    buckets[le] = buckets.get(le, 0.0) + value
        if not buckets:
            return {}
        last, self._last = self._last, buckets
        if last is None or set(last) != set(buckets):
            return {}
        bounds = sorted(buckets)
        cumulative = [buckets[b] - last[b] for b in bounds]
        if any(c < 0 for c in cumulative):  # a reset: this scrape is the new baseline
            return {}
        counts = [cumulative[0]] + [b - a for a, b in zip(cumulative, cumulative[1:], strict=False)]
        if any(c < 0 for c in counts):  # scrapes of different workers' moments: start again
            return {}
        n = int(round(cumulative[-1]))
        if n <= 0:
            return {}
        p50 = bucket_quantile(bounds, counts, 0.50)
        p99 = bucket_quantile(bounds, counts, 0.99)
        finite = sum(counts[:-1]) if math.isinf(bounds[-1]) else n
        return {
            "p50": 1000.0 * p50,
            "p99": 1000.0 * p99,
            "n": n,
            "p50_over": finite < 0.50 * n,  # in the +Inf bucket: the value is a lower bound
            "p99_over": finite < 0.99 * n,
        }


def axis_max_ms(
    points: Sequence[Mapping[str, Any]], now: float, recent_s: float = RECENT_S
) -> float:
    """Top of the latency axis: 1.1 x the largest p99 of the points of the last ``recent_s``
    seconds (all points when none is that recent), at least 1 ms."""
    values = [p["p99"] for p in points if "p99" in p and p.get("t", now) >= now - recent_s]
    if not values:
        values = [p["p99"] for p in points if "p99" in p]
    return max(1.0, 1.1 * max(values, default=0.0))
