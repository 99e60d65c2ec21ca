"""Drift monitoring on a simulated stream: no alarm while behaviour is stable, an alarm after
the simulator switches to its drifted parameters.

The stream's feature snapshots are what the workers produce: the champion's fitted pipeline run
over the events in arrival order with one window state, scored by the champion, fed to the
leader's :class:`DriftMonitor` in batches. Same seed and population with and without drift, so
the only difference is the behaviour change on ``DRIFT_DAY``.
"""

from __future__ import annotations

import numpy as np
import pytest

from models.simulate import SimConfig, simulate
from models.simulate.params import DAY_MS
from streams.learning.drift import DriftMonitor, monitored
from streams.settings import load_settings

DRIFT_DAY = 8
DAYS = 15
USERS = 1500  # ~18k activity events a day
BATCH = 2000


@pytest.fixture(scope="module")
def champion(tmp_path_factory):
    """A state directory whose registry holds a logistic churn champion, and its pipeline."""
    from models.dataset import build_labelled_set
    from models.logistic import LogisticModel
    from models.registry import ModelRegistry
    from models.training import fit_pipeline

    state = tmp_path_factory.mktemp("drift-state")
    sim = simulate(SimConfig(n_users=800, days=28, decision_min_day=14, seed=5))
    fitted = fit_pipeline(sim.events)
    train = build_labelled_set(fitted, sim.events, sim.labels, task="churn", samples_per_label=2)
    model = LogisticModel()
    model.fit(train.X, train.y, names=train.names, fingerprint=train.fingerprint)
    reg = ModelRegistry.from_settings(load_settings(env={}, state_dir=state))
    reg.register("churn", model, pipeline=fitted, status="champion")
    return state, fitted, model


def run_stream(state, fitted, model, drift_day):
    """Feed a simulated stream to a monitor; returns [(day, max feature PSI, score PSI, alarm)]
    per batch once the reference is set and the window full, and the settings."""
    settings = load_settings(
        env={},
        state_dir=state,
        drift_warmup_rows=3 * 18_000,  # ~3 days: 1-day windows and decays have filled
        drift_window_rows=20_000,
    )
    monitor = DriftMonitor(settings)
    sim = simulate(
        SimConfig(n_users=USERS, days=DAYS, decision_min_day=7, drift_day=drift_day, seed=11)
    )
    state_ = fitted.new_state()
    t0, out = None, []
    for batch in sim.events.to_batches(max_chunksize=BATCH):
        fb = fitted.transform(batch, state_)
        if not len(fb):
            continue
        t0 = fb.ts_ms.min() if t0 is None else t0
        monitor.observe(fb.X, fitted.names, {"churn": model.score(fb.X, fitted.names)})
        r = monitor.readings.get("churn")
        if r is not None and r.rows >= settings.drift_window_rows:
            day = int((fb.ts_ms.max() - t0) // DAY_MS)
            out.append((day, r.max_psi, r.score_psi, bool(monitor.take_requests())))
    return out, settings


def test_no_drift_alarm_on_a_stable_stream_and_an_alarm_after_the_drift(champion):
    state, fitted, model = champion
    stable, settings = run_stream(state, fitted, model, None)
    drifted, _ = run_stream(state, fitted, model, DRIFT_DAY)
    threshold = settings.drift_threshold

    assert stable and stable[0][0] <= 4  # the reference was set after ~3 days
    stable_max = max(p for _, p, _, _ in stable)
    before = max(p for day, p, _, _ in drifted if day < DRIFT_DAY)
    after = max(p for day, p, _, _ in drifted if day >= DRIFT_DAY)
    alarms = [day for day, _, _, alarm in drifted if alarm]
    print(
        f"max feature PSI: stable stream {stable_max:.3f}, drifted stream before day "
        f"{DRIFT_DAY} {before:.3f}, after {after:.3f}; alarms on days {alarms}; score PSI at the "
        f"end {stable[-1][2]:.3f} stable, {drifted[-1][2]:.3f} drifted"
    )
    assert stable_max < threshold, stable
    assert not any(alarm for *_, alarm in stable)
    assert before < threshold
    assert after > threshold
    assert alarms and min(alarms) >= DRIFT_DAY


def test_trending_features_are_not_monitored():
    names = (
        "ts_ms.hour_sin",
        "win.tenure_h",
        "win.login.count_30d",
        "win.login.decay_7d",
        "win.login.recency_h",
        "win.sessions",
        "win.login.count_1d",
        "event_type=login",
        "win.since_prev_h",
    )
    assert monitored(names).tolist() == [False] * 6 + [True] * 3


def test_the_reference_is_the_serving_rows_after_the_warm_up(champion):
    state, fitted, _ = champion
    settings = load_settings(env={}, state_dir=state, drift_warmup_rows=300, drift_window_rows=500)
    monitor = DriftMonitor(settings)
    d = len(fitted.names)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(700, d)).astype(np.float32)
    monitor.observe(X, fitted.names, {"churn": rng.random(700)})
    assert "churn" not in monitor.readings  # 300 skipped, 400 of 500 reference rows
    same = rng.normal(size=(600, d)).astype(np.float32)
    monitor.observe(same, fitted.names, {"churn": rng.random(600)})
    r = monitor.readings["churn"]
    assert r.rows == 500 and r.max_psi < 0.2 and not monitor.take_requests()
    monitor.observe(same + 1.0, fitted.names, {"churn": rng.random(600)})
    assert monitor.readings["churn"].max_psi > 1.0 and monitor.take_requests() == {"churn"}


def test_rows_the_champion_did_not_score_are_left_out_of_its_drift(champion):
    """Snapshot rows of another entity kind (a host for the user models) carry a null score
    (NaN): they are neither in the reference nor in the window, and cannot fake a drift."""
    state, fitted, _ = champion
    settings = load_settings(env={}, state_dir=state, drift_warmup_rows=0, drift_window_rows=400)
    monitor = DriftMonitor(settings)
    d = len(fitted.names)
    rng = np.random.default_rng(1)
    users = rng.normal(size=(800, d)).astype(np.float32)
    monitor.observe(users[:400], fitted.names, {"churn": rng.random(400)})  # the reference
    hosts = rng.normal(loc=5.0, size=(300, d)).astype(np.float32)  # far from the users
    mixed = np.concatenate([users[400:], hosts])
    scores = np.concatenate([rng.random(400), np.full(300, np.nan)])
    monitor.observe(mixed, fitted.names, {"churn": scores})
    r = monitor.readings["churn"]
    assert r.rows == 400 and r.max_psi < 0.2 and not monitor.take_requests()
