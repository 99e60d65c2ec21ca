"""The GUI without Kafka: rolling aggregates, the JSON snapshot, the token, the event stream."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer

from schemas import (
    DeadLetter,
    DeadLetterStage,
    ScoreColumns,
    decode_score_results,
    encode_score_results,
)
from streams.metrics import reason_class
from streams.web import LiveState, make_web_app
from streams.web.live import HISTOGRAM_BINS


class Clock:
    def __init__(self, t: float = 1_780_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def score_cols(model: str, scores, fallback: bool = False) -> dict:
    n = len(scores)
    cols = ScoreColumns(
        model_name=model,
        model_version="v0001",
        event_id=[f"e{i}" for i in range(n)],
        entity=[f"u{i}" for i in range(n)],
        score=np.asarray(scores, np.float32),
        decision=np.asarray(scores) >= 0.5,
        fallback=np.full(n, fallback),
        served_by=[f"{model}@v0000" if fallback else f"{model}@v0001"] * n,
        event_time_ms=np.zeros(n, np.int64),
        scored_time_ms=np.zeros(n, np.int64),
    )
    return decode_score_results(encode_score_results(cols))


def letter(reason: str, offset: int) -> DeadLetter:
    return DeadLetter(
        value=b"\xffjunk",
        source_topic="in",
        stage=DeadLetterStage.PARSE,
        reason=reason,
        dead_time_ms=0,
        source_partition=2,
        source_offset=offset,
    )


def test_scores_dead_letters_and_model_events_add_up():
    clock = Clock()
    state = LiveState(clock)
    state.add_scores(score_cols("churn", [0.01, 0.5, 0.99, 1.0]))
    clock.t += 1
    state.add_scores(score_cols("upsell", [0.2] * 10, fallback=True))
    state.add_dead_letters([letter(f"activity event field 'ts': got {i}", i) for i in range(5)])
    state.add_model_event(
        b"churn", json.dumps({"version": "v0002", "decision": "promoted"}).encode()
    )
    state.add_model_event(b"upsell", b"not json")
    state.add_model_event(b"upsell", None)
    clock.t += 1
    snap = state.snapshot()
    json.dumps(snap, allow_nan=False)  # what the page gets is plain JSON
    assert snap["totals"]["scores"] == 14 and snap["totals"]["dead_letters"] == 5
    assert snap["totals"]["model_events"] == 2
    hist = snap["histogram"]["models"]
    assert len(hist["churn"]) == HISTOGRAM_BINS and sum(hist["churn"]) == 4
    assert hist["churn"][0] == 1 and hist["churn"][-1] == 2  # 0.99 and 1.0 in the last bin
    assert sum(hist["upsell"]) == 10
    assert sum(r["scores"] for r in snap["rates"]) == 14
    models = {m["task"]: m for m in snap["models"]}
    assert models["upsell"]["fallbacks"] == 10 and models["churn"]["fallbacks"] == 0
    assert models["upsell"]["served_by"] == {"upsell@v0000": 10}
    assert snap["recent"][0]["model_name"] == "upsell"
    assert {r["model_name"] for r in snap["recent"]} == {"churn", "upsell"}
    [dead] = snap["dead_letters"]
    assert (dead["stage"], dead["reason"], dead["count"]) == (
        "parse",
        "activity event field 'ts'",
        5,
    )
    assert len(dead["samples"]) == 3 and dead["samples"][0]["source"] == "in[2]@4"
    events = snap["model_events"]
    assert events[0] == {"key": "upsell", "deleted": True}
    assert events[1]["unreadable"] == "not json"
    assert events[2] == {"key": "churn", "version": "v0002", "decision": "promoted"}


def test_models_of_the_registry_show_before_their_first_score():
    state = LiveState()
    state.set_registry([{"task": "churn", "champion": "v0001", "challengers": [], "metrics": {}}])
    state.add_scores(score_cols("upsell", [0.5]))
    models = {m["task"]: m for m in state.snapshot()["models"]}
    assert models["churn"] == {
        "task": "churn",
        "scores": 0,
        "fallbacks": 0,
        "served_by": {},
        "retrains": {},
        "not_scored": {},
    }
    assert models["upsell"]["scores"] == 1


def test_old_scores_leave_the_histogram_and_the_rates():
    clock = Clock()
    state = LiveState(clock)
    state.add_scores(score_cols("churn", [0.3] * 3))
    clock.t += 200
    state.add_scores(score_cols("churn", [0.7]))
    snap = state.snapshot()
    assert sum(snap["histogram"]["models"]["churn"]) == 1
    assert sum(r["scores"] for r in snap["rates"]) == 1
    assert snap["totals"]["scores"] == 4


def test_worker_metrics_give_interval_latency_and_drift():
    clock = Clock()
    state = LiveState(clock)
    up = [{"url": "http://w/metrics", "up": True, "error": None}]
    e2e = "streamscore_end_to_end_seconds_bucket"
    first = [(e2e, {"le": "0.1"}, 10.0), (e2e, {"le": "1.0"}, 10.0), (e2e, {"le": "+Inf"}, 10.0),
             ("streamscore_stage_seconds_sum", {"stage": "score"}, 0.2),
             ("streamscore_stage_seconds_count", {"stage": "score"}, 3.0)]  # fmt: skip
    state.set_worker_metrics(up, first)
    clock.t += 1
    samples = [
        (e2e, {"le": "0.1"}, 10.0),
        (e2e, {"le": "1.0"}, 20.0),  # ten more records, all in (0.1, 1] s
        (e2e, {"le": "+Inf"}, 20.0),
        ("streamscore_stage_seconds_sum", {"stage": "score"}, 0.5),
        ("streamscore_stage_seconds_count", {"stage": "score"}, 5.0),
        ("streamscore_feature_drift_psi", {"task": "churn", "feature": "logins_7d"}, 0.31),
        ("streamscore_feature_drift_psi", {"task": "churn", "feature": "plan"}, float("nan")),
        ("streamscore_score_drift_psi", {"task": "churn"}, 0.05),
        ("streamscore_retrains_total", {"task": "churn", "outcome": "promoted"}, 1.0),
        ("streamscore_retrains_total", {"task": "churn", "outcome": "discarded"}, 2.0),
    ]
    state.set_worker_metrics(up, samples)
    snap = state.snapshot()
    assert snap["latency"][0] == {"t": clock.t - 1, "stages": {}}  # the first scrape: baseline
    point = snap["latency"][1]
    assert point["n"] == 10 and not point["p50_over"] and not point["p99_over"]
    assert point["p50"] == pytest.approx(100.0 + 900.0 * 5 / 10)  # ms, within (0.1, 1] s
    assert point["p99"] == pytest.approx(100.0 + 900.0 * 9.9 / 10)
    assert point["stages"] == {"score": pytest.approx(150.0)}  # (0.5 - 0.2) s over 2 batches
    assert snap["latency_axis_ms"] == pytest.approx(1.1 * point["p99"])
    assert snap["drift"][0] == {
        "task": "churn",
        "feature": "logins_7d",
        "psi": 0.31,
        "score_psi": 0.05,
    }
    assert snap["drift"][1]["psi"] is None  # NaN is no JSON
    state.add_scores(score_cols("churn", [0.5]))
    [churn] = state.snapshot()["models"]
    assert churn["retrains"] == {"promoted": 1, "discarded": 2}
    json.dumps(snap, allow_nan=False)


def test_reason_class_is_short_and_drops_details():
    assert reason_class("activity event field 'ts': expected epoch ms, got 'x'") == (
        "activity event field 'ts'"
    )
    assert reason_class("featurise of a batch of 120 events failed: KeyError: 3") == (
        "featurise of a batch of N events failed"
    )
    assert reason_class("") == "unknown"
    assert len(reason_class("x" * 500)) == 60


async def _with_client(app, check) -> None:
    async with TestClient(TestServer(app)) as client:
        await check(client)


def test_token_is_required_when_set_and_the_stream_pushes_snapshots():
    state = LiveState()
    state.add_scores(score_cols("churn", [0.4, 0.6]))
    app = make_web_app(state, token="tok", title="my deployment")

    async def check(client: TestClient) -> None:
        for path in ("/", "/api/snapshot", "/events", "/api/snapshot?token=wrong"):
            assert (await client.get(path)).status == 401, path
        assert (await client.get("/healthz")).status == 200
        page = await client.get("/?token=tok")
        assert page.status == 200 and "my deployment" in await page.text()
        snap = await client.get("/api/snapshot", headers={"Authorization": "Bearer tok"})
        assert (await snap.json())["totals"]["scores"] == 2
        stream = await client.get("/events?token=tok")
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        first = await stream.content.readuntil(b"\n\n")
        assert first.startswith(b"data: ")
        assert json.loads(first[len(b"data: ") :])["totals"]["scores"] == 2
        stream.close()

    asyncio.run(_with_client(app, check))


def test_no_token_means_open():
    app = make_web_app(LiveState())

    async def check(client: TestClient) -> None:
        assert (await client.get("/")).status == 200
        assert (await client.get("/api/snapshot")).status == 200

    asyncio.run(_with_client(app, check))


def test_a_nan_metrics_model_event_does_not_break_the_snapshot_or_the_stream():
    """The retrain gate writes NaN for an undefined metric (AUC on one class); older events
    on the compacted topic hold the bare NaN token. Neither may stop the page."""
    from streams.learning.events import ModelEvent

    state = LiveState()
    state.add_scores(score_cols("churn", [0.4, float("nan"), 0.6]))
    state.add_model_event(
        b"churn",
        b'{"task":"churn","event":"discarded","version":"v0002","champion":"v0001",'
        b'"metrics":{"auc":NaN,"log_loss":Infinity,"n":-Infinity}}',
    )
    written = ModelEvent(
        "upsell",
        "discarded",
        "v0003",
        "v0001",
        metrics={"auc": float("nan"), "gate": {"delta": float("inf")}},
    )
    state.add_model_event(b"upsell", written.to_json())
    state.set_worker_metrics(
        [{"url": "u", "up": True, "error": None}],
        [
            ("streamscore_end_to_end_seconds_sum", {}, float("nan")),
            ("streamscore_end_to_end_seconds_count", {}, 3.0),
        ],
    )
    assert json.loads(written.to_json())["metrics"] == {"auc": None, "gate": {"delta": None}}
    app = make_web_app(state)

    async def check(client: TestClient) -> None:
        snap = await client.get("/api/snapshot")
        assert snap.status == 200
        body = await snap.text()
        data = json.loads(body, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
        events = {e["key"]: e for e in data["model_events"]}
        assert events["churn"]["metrics"] == {"auc": None, "log_loss": None, "n": None}
        assert events["upsell"]["metrics"]["auc"] is None
        assert data["totals"]["scores"] == 3
        assert sum(data["histogram"]["models"]["churn"]) == 2  # the NaN score is not binned
        stream = await client.get("/events")
        for _ in range(2):  # the stream keeps pushing
            chunk = await stream.content.readuntil(b"\n\n")
            json.loads(chunk[len(b"data: ") :], parse_constant=lambda name: pytest.fail(name))
        stream.close()

    asyncio.run(_with_client(app, check))


def test_the_gui_start_line_and_logs_never_show_the_token(tmp_path):
    """``streamscore gui`` prints its address and how to pass the token, not the token."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    from tests.support.cli import clean_env

    secret = "tok-6f1c0e9a"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = clean_env(
        STREAMSCORE_WEB_TOKEN=secret,
        KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9",
        STREAMSCORE_STATE_DIR=str(tmp_path),
    )
    log = tmp_path / "gui.log"
    with open(log, "wb") as out:
        gui = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "gui", "--port", str(port), "--metrics", "none"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=Path(__file__).parents[3],
        )
    try:
        deadline = time.monotonic() + 60
        while "streamscore GUI:" not in log.read_text() and time.monotonic() < deadline:
            assert gui.poll() is None, log.read_text()
            time.sleep(0.2)
        url = f"http://127.0.0.1:{port}/api/snapshot?token={secret}"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
        time.sleep(1.0)
    finally:
        gui.terminate()
        gui.wait(30)
    text = log.read_text()
    assert f"streamscore GUI: http://127.0.0.1:{port}/" in text
    assert "?token=<STREAMSCORE_WEB_TOKEN>" in text
    assert secret not in text


def test_events_a_model_does_not_score_show_as_not_scored_by_kind_not_missing():
    """The workers count the events each model gives no score by design (a host for a user
    model); the GUI shows them per model and in total, apart from scores and dead letters."""
    state = LiveState(Clock())
    up = [{"url": "http://w1/metrics", "up": True, "error": None},
          {"url": "http://w2/metrics", "up": True, "error": None}]  # fmt: skip
    name = "streamscore_events_not_scored_total"
    state.set_worker_metrics(
        up,
        [
            (name, {"task": "churn", "entity_kind": "host"}, 120.0),  # worker 1
            (name, {"task": "churn", "entity_kind": "host"}, 30.0),  # worker 2
            (name, {"task": "upsell", "entity_kind": "host"}, 150.0),
        ],
    )
    state.add_scores(score_cols("churn", [0.2, 0.7]))
    snap = state.snapshot()
    models = {m["task"]: m for m in snap["models"]}
    assert models["churn"]["not_scored"] == {"host": 150}
    assert models["upsell"]["not_scored"] == {"host": 150}  # listed before its first score
    assert models["churn"]["scores"] == 2 and models["upsell"]["scores"] == 0
    assert snap["totals"]["not_scored"] == 300
    assert snap["totals"]["scores"] == 2 and snap["totals"]["dead_letters"] == 0
    assert {r["entity"] for r in snap["recent"]} == {"u0", "u1"}
    json.dumps(snap, allow_nan=False)
