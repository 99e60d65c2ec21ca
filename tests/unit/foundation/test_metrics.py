"""The bulk histogram update equals one observe() per value."""

import numpy as np
from prometheus_client import CollectorRegistry, Histogram

from streams.metrics import observe_many


def _samples(h: Histogram) -> dict:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for m in h.collect()
        for s in m.samples
        if not s.name.endswith("_created")
    }


def test_observe_many_matches_observe_loop():
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.exponential(0.05, 5000), [0.0, 0.01, 0.1, 1.0, 10.0, 99.0]])
    buckets = (0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 10.0)
    one = Histogram("one", "d", buckets=buckets, registry=CollectorRegistry())
    bulk = Histogram("one", "d", buckets=buckets, registry=CollectorRegistry())
    for v in values:
        one.observe(float(v))
    observe_many(bulk, values)
    observe_many(bulk, np.array([]))
    a, b = _samples(one), _samples(bulk)
    assert a.keys() == b.keys()
    for key in a:
        assert b[key] == a[key] if not key[0].endswith("_sum") else np.isclose(b[key], a[key])
