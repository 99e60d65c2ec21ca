"""Continuous learning end to end, on the real broker with two real workers.

Drift detection: a worker scores the first days of a simulated stream and its leader raises no
drift alarm (the monitored features' PSI against the serving reference stays below the
threshold on its /metrics); after the simulator switches to its drifted parameters it does.

Retraining: the simulator's stream switches to drifted parameters (day 3 of 21); the leader
retrains churn and upsell from the snapshots and delayed outcomes (on its timer), its gate
promotes a churn challenger, both workers hot-swap to it without losing or duplicating a
result, and the new champion's AUC on fresh post-drift data is >= 0.95 x the oracle's (the old
champion stays below it). A challenger trained on shuffled labels is not promoted, and the
registry and the topic record why.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from models.dataset import build_labelled_set
from models.evaluation import evaluate
from models.registry import ModelRegistry
from models.simulate import SimConfig, iter_payload_batches, simulate
from streams.kafka.clients import make_producer
from streams.learning.retrain import retrain_task
from streams.topics import topic_name
from tests.integration.learning import (
    VersionReader,
    model_events,
    wait_for_group,
    wait_for_log,
    wait_for_logs,
)
from tests.integration.pipeline import MODELS, Deployment, stop

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

STREAM = SimConfig(n_users=2000, days=21, decision_min_day=7, drift_day=3, seed=11)
FRESH = SimConfig(n_users=4000, days=21, decision_min_day=7, drift_day=1, seed=99)


def produce_simulation(
    d: Deployment,
    sim,
    kinds=("activity", "outcomes"),
    rename: bytes = b"",
    span_ms: tuple[int, int] | None = None,
) -> list[str]:
    """Activity and outcomes in time order, stamped now (simulated times are months old and
    would fall under the topics' retention); returns the activity event ids. ``rename``
    replaces the users' ``u`` prefix (other users than the stream's); ``span_ms`` keeps only
    the payloads with simulated time in ``[start, end)``."""
    producer = make_producer(d.bootstrap)
    topics = {k: topic_name(d.settings, k) for k in kinds}
    for batch in iter_payload_batches(sim, 2000):
        if batch.kind not in topics:
            continue
        keep = np.ones(len(batch.payloads), dtype=bool)
        if span_ms is not None:
            keep = (batch.ts_ms >= span_ms[0]) & (batch.ts_ms < span_ms[1])
        for value, key, ok in zip(batch.payloads, batch.keys, keep, strict=True):
            if not ok:
                continue
            if rename:
                value = value.replace(b'"user_id":"u', b'"user_id":"' + rename)
                key = rename + key[1:]
            while True:
                try:
                    producer.produce(topics[batch.kind], value=value, key=key)
                    break
                except BufferError:
                    producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(60) == 0
    is_act = sim.events["source"].to_numpy(zero_copy_only=False) == "activity"
    if span_ms is not None:
        ts = sim.events["ts_ms"].to_numpy()
        is_act &= (ts >= span_ms[0]) & (ts < span_ms[1])
    return sim.events["event_id"].to_numpy(zero_copy_only=False)[is_act].tolist()


def wait_for_swap(d: Deployment, names: list[str], task: str, version: str, timeout, workers):
    """Until each worker's log says it hot-swapped ``task`` to ``version``."""
    swapped = re.compile(rf"hot swap: .* -> {{[^}}]*'{task}': '{re.escape(version)}'")
    wait_for_logs(d, names, swapped.search, f"a hot swap of {task} to {version}", timeout, workers)


def auc_on_fresh_drifted_data(registry: ModelRegistry, task: str, version: str, fresh) -> dict:
    pipeline = registry.load_pipeline(task, version)
    s = build_labelled_set(pipeline, fresh.events, fresh.labels, task=task)
    model = registry.load(task, version)
    return evaluate(s.y, model.score(s.X, s.names), s.true_p)


def test_drift_retrain_promote_and_hot_swap_on_two_workers(kafka_bootstrap, trained, tmp_path):
    d = Deployment.create(kafka_bootstrap, trained, tmp_path)
    reg = ModelRegistry.from_settings(d.settings)
    v1 = reg.champion("churn").version
    stream, fresh = simulate(STREAM), simulate(FRESH)
    before = auc_on_fresh_drifted_data(reg, "churn", v1, fresh)
    learn = {
        "STREAMSCORE_TABLE_STORE": "memory",
        "STREAMSCORE_RETRAIN_INTERVAL_S": "45",
        "STREAMSCORE_RETRAIN_MIN_SAMPLES": "300",
        "STREAMSCORE_PROMOTE_MARGIN": "0.01",
        "STREAMSCORE_DRIFT_WINDOW_ROWS": "5000",
        "STREAMSCORE_RETRAIN_TASKS": "churn",  # what this test checks; upsell would double it
    }
    a = d.start_worker("a", **learn)
    b = d.start_worker("b", **learn)
    reader = VersionReader(d)
    try:
        # Both workers hold partitions before the stream starts: a rebalance in the middle of
        # exactly-once processing can stall a partition in faust-streaming 0.15 (see the
        # known-failure takeover test in test_pipeline.py), which is not what this test is about.
        wait_for_group(d, 2, 180, workers=[a, b])
        ids = produce_simulation(d, stream)
        keys = {(eid, m) for eid in ids for m in MODELS}
        reader.wait_for(keys, 900, workers=[a, b])
        # The gate promotes churn challengers trained from the streams (retrains go on every
        # 45 s); wait until the champion it chose recovers on fresh post-drift data.
        deadline, seen, after = time.monotonic() + 600, set(), None
        while time.monotonic() < deadline:
            for w in (a, b):
                assert w.poll() is None, d.log_tail("a") + d.log_tail("b")
            churn = [e for e in model_events(d) if e.task == "churn" and e.event == "promoted"]
            if churn and churn[-1].champion not in seen:
                seen.add(churn[-1].champion)
                after = auc_on_fresh_drifted_data(reg, "churn", churn[-1].champion, fresh)
                print(f"churn champion {churn[-1].champion}: {after}")
                if after["auc"] >= 0.95 * after["oracle_auc"]:
                    break
            time.sleep(2)
        assert seen, d.log_tail("a", 6000) + d.log_tail("b", 6000)
        # Events after the swap are scored by the new champion, on both workers' partitions:
        # produce them once both workers have swapped to it.
        wait_for_swap(d, ["a", "b"], "churn", churn[-1].champion, 120, workers=[a, b])
        assert len(d.group_members()) == 2
        late = simulate(SimConfig(n_users=300, days=8, decision_min_day=7, horizon_days=1, seed=12))
        late_ids = produce_simulation(d, late, kinds=("activity",), rename=b"late")
        late_keys = {(eid, m) for eid in late_ids for m in MODELS}
        reader.wait_for(late_keys, 300, workers=[a, b])
    finally:
        stop(a)
        stop(b)
        reader.close()

    # Exactly one result per event and model, for all of it.
    every = keys | late_keys
    missing = every - reader.count.keys()
    dupes = {k: n for k, n in reader.count.items() if n > 1}
    assert not missing, f"{len(missing)} results missing, e.g. {sorted(missing)[:3]}"
    assert not dupes, f"{len(dupes)} duplicated, e.g. {list(dupes.items())[:3]}"
    # Both workers swapped: every late event, on every partition, is scored by the champion
    # that recovered or by one promoted after it (retraining goes on every 45 s, so a later
    # promotion may land during the late wave), never by an earlier version.
    champ = churn[-1].champion
    promoted = [e.champion for e in model_events(d) if e.task == "churn" and e.event == "promoted"]
    allowed = set(promoted[promoted.index(champ) :])
    late_versions = {reader.versions[k] for k in late_keys if k[1] == "churn"}
    assert late_versions and late_versions <= allowed, (late_versions, promoted)
    assert champ != v1

    # The decision was recorded with its numbers, and the new champion recovered.
    ev = [e for e in model_events(d) if e.event == "promoted" and e.version == champ][-1]
    assert ev.samples["holdout"] >= 300 and "better by the margin" in ev.reason
    assert after is not None
    print(
        f"churn AUC on fresh drifted data: {v1} {before['auc']:.4f}, {champ} "
        f"{after['auc']:.4f}, oracle {after['oracle_auc']:.4f}; event {ev.summary()}"
    )
    assert after["auc"] >= 0.95 * after["oracle_auc"], (before, after)


DRIFT_SIM = SimConfig(n_users=1500, days=15, decision_min_day=7, drift_day=8, seed=11)


def test_no_drift_alarm_before_the_simulator_drifts_and_an_alarm_after(
    kafka_bootstrap, trained, tmp_path
):
    from tests.integration.test_metrics import TOKEN, free_port, scrape, wait_for_web

    d = Deployment.create(kafka_bootstrap, trained, tmp_path)
    threshold = d.settings.drift_threshold
    port = free_port()
    w = d.start_worker(
        "drift",
        STREAMSCORE_TABLE_STORE="memory",
        STREAMSCORE_RETRAIN_INTERVAL_S="3600",  # no timer retrain: drift is the only trigger
        STREAMSCORE_DRIFT_WARMUP_ROWS="54000",  # ~3 simulated days of 1500 users
        STREAMSCORE_DRIFT_WINDOW_ROWS="20000",
        STREAMSCORE_WEB_PORT=str(port),
        STREAMSCORE_WEB_TOKEN=TOKEN,
    )
    reader = VersionReader(d)
    sim = simulate(DRIFT_SIM)
    drift_ms = DRIFT_SIM.start_ms + DRIFT_SIM.drift_day * 86_400_000

    def feature_psi() -> dict[str, float]:
        return {
            dict(lab)["feature"]: v
            for (n, lab), v in scrape(port).items()
            if n == "streamscore_feature_drift_psi" and dict(lab)["task"] == "churn"
        }

    def psi_once_settled(timeout: float) -> dict[str, float]:
        """The leader reads the snapshots after they are committed: wait until the gauges
        stop changing."""
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            now = feature_psi()
            if now and now == last:
                return now
            last = now
            time.sleep(6)
        return last or {}

    try:
        wait_for_web(port, w)
        wait_for_group(d, 1, 180, workers=[w])
        pre = produce_simulation(d, sim, kinds=("activity",), span_ms=(0, drift_ms))
        reader.wait_for({(e, m) for e in pre for m in MODELS}, 600, workers=[w])
        before = psi_once_settled(120)
        log_before = d.log_tail("drift", 200_000)
        post = produce_simulation(d, sim, kinds=("activity",), span_ms=(drift_ms, 2**62))
        reader.wait_for({(e, m) for e in post for m in MODELS}, 600, workers=[w])
        wait_for_log(d, ["drift"], "drift on churn", 1, 120, workers=[w])
        after = psi_once_settled(60)
    finally:
        stop(w)
        reader.close()
    top_before = max(before.items(), key=lambda kv: kv[1], default=None)
    top_after = max(after.items(), key=lambda kv: kv[1], default=None)
    print(f"churn feature PSI: before the drift {top_before}, after {top_after}")
    assert before, "no drift reference was taken before the drift: " + d.log_tail("drift")
    assert top_before[1] < threshold, before
    assert "drift on " not in log_before, log_before[-3000:]
    assert top_after[1] > threshold, after


def test_a_worse_challenger_is_not_promoted_and_the_decision_says_why(
    kafka_bootstrap, trained, tmp_path
):
    d = Deployment.create(kafka_bootstrap, trained, tmp_path)
    reg = ModelRegistry.from_settings(d.settings)
    champ = reg.champion("churn")
    pipeline = reg.load_pipeline("churn", champ.version)
    sim = simulate(SimConfig(n_users=1500, days=21, decision_min_day=7, seed=13))
    train = build_labelled_set(pipeline, sim.events, sim.labels, task="churn", samples_per_label=3)
    holdout_sim = simulate(SimConfig(n_users=1000, days=21, decision_min_day=7, seed=14))
    holdout = build_labelled_set(pipeline, holdout_sim.events, holdout_sim.labels, task="churn")
    settings = d.settings.model_copy(update={"retrain_min_samples": 100, "retrain_epochs": 3})
    decision = retrain_task(settings, "churn", train, holdout, shuffle_labels=True)

    assert decision["event"] == "discarded", decision
    assert "worse than the champion" in decision["reason"]
    assert reg.champion("churn").version == champ.version
    assert reg.get("churn", decision["version"]).status == "retired"
    recorded = reg.decisions("churn")[-1]
    assert recorded["event"] == "discarded" and recorded["reason"] == decision["reason"]
    assert recorded["samples"]["holdout"] == len(holdout)
    assert recorded["metrics"]["challenger"]["auc"] < recorded["metrics"]["champion"]["auc"]
    on_topic = [e for e in model_events(d) if e.task == "churn"]
    assert [(e.event, e.version, e.champion) for e in on_topic] == [
        ("discarded", decision["version"], champ.version)
    ]
    assert on_topic[0].artifact is None  # no champion change: nothing for workers to install
    assert np.isfinite(recorded["metrics"]["challenger"]["auc"])
