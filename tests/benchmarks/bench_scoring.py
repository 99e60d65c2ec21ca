"""Scoring benchmark: rows/s of per-event ``model.predict``, ``tf.function`` and LiteRT.

    .venv/bin/python tests/benchmarks/bench_scoring.py [--users 1500] [--predict-rows 200]

One core: TensorFlow intra/inter-op threads = 1 and LiteRT ``num_threads=1``. An MLP with the
default hyper-parameters is trained briefly on simulated users featurised by the real default
activity pipeline (so the input width is the real one), then scored on seeded feature rows at
batch 1, 64, 1024 and 4096 by:

- ``predict/event``: Keras ``model.predict`` on one row at a time (the baseline the design
  forbids in hot paths), timed on ``--predict-rows`` rows;
- ``predict/batch``: Keras ``model.predict`` on the whole batch;
- ``tf.function``: the serving engine (fixed signature float32 [None, d]);
- ``litert``: the serving engine on the exported LiteRT flatbuffer;
- ``FallbackScorer``: the production path (registry champion, engine chosen by measurement at
  load, feature-name and output checks, fallback bookkeeping) -- its overhead over the raw
  engine is the per-call cost of safety.

Outputs agree within 1e-5 (checked). Targets (issue 4): >= 1M rows/s at batch >= 1024 on one
core, and >= 1000x per-event ``model.predict``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def rate(fn, X: np.ndarray, min_seconds: float = 0.5) -> float:
    """Rows per second of ``fn(X)``: best of repeated timings over at least ``min_seconds``."""
    fn(X)
    best, spent, calls = float("inf"), 0.0, 0
    while spent < min_seconds or calls < 3:
        t = time.perf_counter()
        fn(X)
        dt = time.perf_counter() - t
        best, spent, calls = min(best, dt), spent + dt, calls + 1
    return X.shape[0] / best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=1500)
    ap.add_argument("--predict-rows", type=int, default=200)
    args = ap.parse_args()

    from models._tf import tensorflow

    tensorflow(threads=1)  # before anything else starts TensorFlow's runtime
    from models.dataset import build_labelled_set
    from models.logistic import LogisticModel
    from models.mlp import MLPModel, MLPParams
    from models.registry import ModelRegistry
    from models.serving import FallbackScorer
    from models.serving.engines import AGREEMENT, LiteRTEngine, TFFunctionEngine
    from models.simulate import SimConfig, simulate
    from models.training import fit_pipeline

    sim = simulate(SimConfig(n_users=args.users, days=35, decision_min_day=21, n_hosts=0, seed=1))
    pipeline = fit_pipeline(sim.events)
    data = build_labelled_set(pipeline, sim.events, sim.labels, task="churn")
    model = MLPModel(MLPParams(epochs=3))
    model.fit(data.X, data.y, names=data.names, fingerprint=data.fingerprint)
    d = len(data.names)
    baseline = LogisticModel()
    baseline.fit(data.X, data.y, names=data.names, fingerprint=data.fingerprint)
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "m")
        lite = LiteRTEngine(Path(tmp) / "m" / "model.tflite", d, threads=1)
        registry = ModelRegistry(Path(tmp) / "registry")
        registry.register("churn", model, baseline=baseline, status="champion")
        serving = FallbackScorer(registry, "churn", fingerprint=data.fingerprint)
    tf_fn = TFFunctionEngine(model)
    keras_model = model.keras_model

    rng = np.random.default_rng(0)
    pool = data.X[rng.integers(0, len(data), 4096)]

    # Per-event predict: one call per row, whatever the batch (what a naive consumer does).
    rows = pool[: args.predict_rows]
    keras_model.predict(rows[:1], verbose=0)
    t = time.perf_counter()
    for i in range(len(rows)):
        keras_model.predict(rows[i : i + 1], verbose=0)
    per_event = len(rows) / (time.perf_counter() - t)

    ref = keras_model.predict(pool, verbose=0).reshape(-1)
    for name, fn in (("tf.function", tf_fn), ("litert", lite)):
        diff = float(np.max(np.abs(fn(pool) - ref)))
        assert diff <= AGREEMENT, f"{name} differs from predict by {diff}"

    print(
        f"MLP {model.params.hidden} on {d} features; one core; "
        f"per-event model.predict = {per_event:,.0f} rows/s"
    )
    print(f"FallbackScorer chose {serving.describe()['chain'][0]['engine']}")
    header = (
        f"{'batch':>6} {'predict/batch':>14} {'tf.function':>14} {'litert':>14} "
        f"{'FallbackScorer':>15} {'tf.fn/event':>12} {'litert/event':>13} "
        f"{'scorer/event':>13}"
    )
    print(header)
    print("-" * len(header))
    for batch in (1, 64, 1024, 4096):
        X = np.ascontiguousarray(pool[:batch])
        r_pred = rate(lambda a: keras_model.predict(a, verbose=0), X, 0.3)
        r_tf = rate(tf_fn, X)
        r_lite = rate(lite, X)
        r_srv = rate(lambda a: serving.score(a, data.names), X)
        print(
            f"{batch:>6} {r_pred:>14,.0f} {r_tf:>14,.0f} {r_lite:>14,.0f} {r_srv:>15,.0f} "
            f"{r_tf / per_event:>11,.0f}x {r_lite / per_event:>12,.0f}x "
            f"{r_srv / per_event:>12,.0f}x"
        )
    print("rows/s; the last three columns are ratios to per-event model.predict.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
