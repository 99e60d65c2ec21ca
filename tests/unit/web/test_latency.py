"""End-to-end latency per interval: percentiles from histogram bucket differences."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from streams.web.latency import E2E, IntervalLatency, axis_max_ms, bucket_quantile

BOUNDS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    math.inf,
)  # streams.metrics' latency buckets


def scrape(observations) -> list[tuple[str, dict, float]]:
    """Prometheus samples of a histogram that has seen ``observations`` (seconds)."""
    obs = np.asarray(observations, dtype=np.float64)
    out = [(E2E + "_bucket", {"le": "+Inf" if math.isinf(b) else str(b)}, float((obs <= b).sum()))
           for b in BOUNDS]  # fmt: skip
    return [*out, (E2E + "_count", {}, float(len(obs))), (E2E + "_sum", {}, float(obs.sum()))]


def test_bucket_quantile_interpolates_within_a_bucket():
    bounds, counts = (0.01, 0.1, 1.0, math.inf), (50, 40, 9, 1)
    assert bucket_quantile(bounds, counts, 0.5) == pytest.approx(0.01)
    assert bucket_quantile(bounds, counts, 0.7) == pytest.approx(0.01 + 0.09 * 20 / 40)
    assert bucket_quantile(bounds, counts, 0.99) == pytest.approx(1.0)
    assert bucket_quantile(bounds, counts, 0.995) == 1.0  # in +Inf: the top finite bound
    assert math.isnan(bucket_quantile(bounds, (0, 0, 0, 0), 0.5))
    assert bucket_quantile((0.01, math.inf), (0, 3), 0.5) == 0.01


def test_bucket_quantile_is_within_one_bucket_of_the_exact_quantile():
    rng = random.Random(12)
    for _ in range(200):
        obs = np.array([rng.lognormvariate(-4, 1.5) for _ in range(rng.randrange(1, 400))])
        counts = np.diff(np.r_[0, [(obs <= b).sum() for b in BOUNDS]])
        for q in (0.5, 0.99):
            got = bucket_quantile(BOUNDS, counts.tolist(), q)
            exact = float(np.quantile(obs, q, method="inverted_cdf"))
            i = int(np.searchsorted(BOUNDS, exact))  # the bucket holding the exact quantile
            lo, hi = (BOUNDS[i - 1] if i else 0.0), BOUNDS[i]
            if math.isinf(hi):
                assert got == lo
            else:
                assert lo <= got <= hi, (q, exact, got)


def test_first_scrape_is_a_baseline_and_a_backlog_of_old_records_does_not_leak_in():
    lat = IntervalLatency()
    history = [1756.0] * 5000 + [0.02] * 100  # records stamped half an hour ago: +Inf bucket
    assert lat.update(scrape(history)) == {}  # baseline: no point from the worker's whole life
    live = [0.004] * 90 + [0.03] * 9 + [0.2]
    point = lat.update(scrape(history + live))
    assert point["n"] == 100 and not point["p50_over"] and not point["p99_over"]
    assert 2.5 <= point["p50"] <= 5.0  # ms
    assert 25.0 <= point["p99"] <= 50.0


def test_intervals_without_records_resets_and_p99_beyond_the_buckets():
    lat = IntervalLatency()
    lat.update(scrape([0.01] * 10))
    assert lat.update(scrape([0.01] * 10)) == {}  # nothing new
    assert lat.update(scrape([0.01] * 3)) == {}  # counts fell: a worker restarted
    point = lat.update(scrape([0.01] * 3 + [0.01] * 50 + [600.0] * 50))
    assert point["p99_over"] and point["p99"] == 300_000.0  # shown as "> 300,000 ms"
    assert not point["p50_over"] and point["p50"] == pytest.approx(10.0)
    point = lat.update(scrape([0.01] * 53 + [600.0] * 150))
    assert point["p50_over"] and point["p50"] == 300_000.0
    assert lat.update([("streamscore_stage_seconds_sum", {"stage": "parse"}, 1.0)]) == {}


def test_axis_follows_the_recent_points_only():
    now = 1000.0
    points = [{"t": now - 100, "p50": 5.0, "p99": 1_756_258.0},  # an early spike
              {"t": now - 20, "p50": 4.0, "p99": 30.0},
              {"t": now - 2, "p50": 5.0, "p99": 40.0},
              {"t": now - 1}]  # fmt: skip
    assert axis_max_ms(points, now) == pytest.approx(44.0)
    assert axis_max_ms(points[:1], now) == pytest.approx(1.1 * 1_756_258.0)  # nothing recent
    assert axis_max_ms([], now) == 1.0
