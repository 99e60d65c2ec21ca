"""Hot swap through the model-events topic, on the real broker with real workers.

`streamscore models promote` and `rollback` publish a model event; both running workers swap
between batches (no restart), every event still gets exactly one result per model, and a
worker started later, with a registry of its own that lacks the promoted version, installs it
from the (compacted) topic before its first batch.
"""

from __future__ import annotations

import shutil

import pytest

from models.registry import ModelRegistry
from tests.integration._cli import streamscore
from tests.integration.learning import VersionReader, model_events, wait_for_log
from tests.integration.pipeline import MODELS, Deployment, stop
from tests.integration.workload import mixed_workload

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def keys_of(w) -> set[tuple[str, str]]:  # noqa: ANN001
    ids = list(w.event_ids)
    return {(eid, m) for eid in ids for m in MODELS}


def test_promote_rollback_swap_two_workers_and_a_late_worker_reads_the_topic(
    kafka_bootstrap, trained, tmp_path
):
    d = Deployment.create(kafka_bootstrap, trained, tmp_path)
    reg = ModelRegistry.from_settings(d.settings)
    v1 = reg.champion("churn").version
    # A second churn version (the same model re-registered) to switch to.
    v2 = reg.register(
        "churn",
        reg.load("churn", v1),
        baseline=reg.load("churn", v1, part="baseline"),
        pipeline=reg.load_pipeline("churn", v1),
        parent=v1,
        status="retired",
    ).version
    env = d.env()
    a = d.start_worker("a", STREAMSCORE_TABLE_STORE="memory")
    b = d.start_worker("b", STREAMSCORE_TABLE_STORE="memory")
    reader = VersionReader(d)
    waves = [mixed_workload(2000, seed=40 + k, malformed_frac=0.0) for k in range(4)]
    expect_churn = []
    try:
        for k, (action, version) in enumerate(
            [(None, v1), ("promote", v2), ("rollback", v1), ("promote", v2)]
        ):
            if action is not None:
                args = ("promote", "churn", v2) if action == "promote" else ("rollback", "churn")
                done = streamscore("--state-dir", str(d.state_dir), "models", *args, env=env)
                assert done.returncode == 0, done.stdout + done.stderr
                if k < 3:
                    wait_for_log(d, ["a", "b"], "hot swap", k, 120, workers=[a, b])
            if k == 3:
                # Both workers go; a new one with its own registry (no v2 in it) takes over.
                stop(a)
                stop(b)
                own = d.state_dir.parent / "state-c"
                shutil.copytree(trained / "models", own / "models")
                assert not (own / "models" / "churn" / v2).exists()
                c = d.start_worker("c", STREAMSCORE_TABLE_STORE="memory")
                a = b = c
            d.produce(waves[k])
            reader.wait_for(keys_of(waves[k]), 300, workers=[a] if a is b else [a, b])
            expect_churn.append(version)
        late = ModelRegistry(d.state_dir.parent / "state-c" / "models")
        assert late.champion("churn").version == v2  # installed from the event's files
    finally:
        for w in {a, b}:
            stop(w)
        reader.close()

    for k, w in enumerate(waves):
        keys = keys_of(w)
        missing = keys - reader.count.keys()
        assert not missing, f"wave {k}: {len(missing)} results missing\n{d.log_tail('c')}"
        dupes = {key: n for key, n in reader.count.items() if key in keys and n > 1}
        assert not dupes, f"wave {k}: duplicated results {list(dupes.items())[:3]}"
        churn = {reader.versions[key] for key in keys if key[1] == "churn"}
        upsell = {reader.versions[key] for key in keys if key[1] == "upsell"}
        assert churn == {expect_churn[k]}, (k, churn)
        assert upsell == {"v0001"}, (k, upsell)
    events = [e for e in model_events(d) if e.task == "churn"]
    assert [(e.event, e.champion) for e in events] == [
        ("promoted", v2),
        ("rolled_back", v1),
        ("promoted", v2),
    ]
    assert all(e.artifact for e in events)
    assert [x["event"] for x in reg.decisions("churn")] == ["promoted", "rolled_back", "promoted"]
