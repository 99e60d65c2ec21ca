"""What an operator could abuse, tried on the real broker against real workers.

- A model event naming its champion ``../../../outside/evil`` (a complete model planted outside
  the registry) is refused and logged; the worker keeps scoring with its champion.
- With a web token, the worker's web server answers 401 on Faust's ``/table/...`` and
  ``/router/...`` (and everything else but ``/healthz``) without it.
- Each input topic takes only its own kind: a dpkg line on the activity topic and activity
  JSON on the raw-logs topic each become exactly one dead letter, not a score.
"""

from __future__ import annotations

import json
import shutil
import socket
import time
import urllib.error
import urllib.request

import pytest

from models.registry import ModelRegistry
from streams.learning.events import ModelEvent
from streams.produce import Publisher
from tests.integration.learning import VersionReader, wait_for_log
from tests.integration.pipeline import MODELS, Deployment, ResultReader, stop
from tests.support.workload import mixed_workload

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def keys_of(w) -> set[tuple[str, str]]:
    return {(eid, m) for eid in w.event_ids for m in MODELS}


def test_a_model_event_naming_a_path_outside_the_registry_is_refused(
    kafka_bootstrap, trained, tmp_path
):
    d = Deployment.create(kafka_bootstrap, trained, tmp_path)
    reg = ModelRegistry.from_settings(d.settings)
    v1 = reg.champion("churn").version
    evil = "../../../outside/evil"
    # Where the worker's registry (state-a/models/churn, a link to state/models) would find
    # it: a complete, loadable version planted outside the registry's folder.
    planted = tmp_path / "outside" / "evil"
    shutil.copytree(reg.get("churn", v1).path, planted)
    a = d.start_worker("a", STREAMSCORE_TABLE_STORE="memory")
    reader = VersionReader(d)
    waves = [mixed_workload(600, seed=80 + k, malformed_frac=0.0) for k in range(2)]
    try:
        d.produce(waves[0])
        reader.wait_for(keys_of(waves[0]), 300, workers=[a], settle=0)
        event = ModelEvent(
            "churn", "promoted", v1, evil, parent=v1, artifact=reg.export_version("churn", v1)
        )
        with Publisher(d.settings, d.bootstrap) as pub:
            pub.send("model-events", [event.to_json()], [b"churn"])
        wait_for_log(d, ["a"], "refused model event", 1, 120, workers=[a])
        d.produce(waves[1])
        reader.wait_for(keys_of(waves[1]), 300, workers=[a])
    finally:
        stop(a)
        reader.close()
    log = d.log_tail("a", 6000)
    assert "outside/evil" in log and "hot swap" not in log, log
    for k, wave in enumerate(waves):
        keys = keys_of(wave)
        assert keys <= reader.count.keys(), f"wave {k}: results missing\n{log}"
        versions = {reader.versions[key] for key in keys if key[1] == "churn"}
        assert versions == {v1}, (k, versions)
    assert ModelRegistry.from_settings(d.settings).champion("churn").version == v1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(url: str, token: str | None = None) -> int:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_worker_with_a_web_token_locks_every_route_but_health(kafka_bootstrap, trained, tmp_path):
    d = Deployment.create(kafka_bootstrap, trained, tmp_path)
    port, token = _free_port(), "worker-token-81c2"
    a = d.start_worker(
        "a",
        STREAMSCORE_TABLE_STORE="memory",
        STREAMSCORE_WEB_PORT=str(port),
        STREAMSCORE_WEB_TOKEN=token,
    )
    base = f"http://127.0.0.1:{port}"
    table = f"/table/{d.prefix}worker.activity-logs.all-entity-windows/"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert a.poll() is None, d.log_tail("a")
            try:
                if _status(base + "/healthz") == 200:
                    break
            except OSError:  # not listening yet
                pass
            time.sleep(1.0)
        else:
            raise AssertionError(f"the worker's web server never answered\n{d.log_tail('a')}")
        without = {p: _status(base + p) for p in ("/", "/table/", table, "/router/", "/metrics")}
        assert without == dict.fromkeys(without, 401), without
        assert _status(base + "/metrics", token) == 200
        assert _status(f"{base}/metrics?token={token}") == 200
        with_token = {p: _status(base + p, token) for p in ("/table/", table, "/router/")}
        assert with_token == dict.fromkeys(with_token, 404), with_token  # those views are off
    finally:
        stop(a)


def test_each_input_topic_takes_only_its_own_kind(kafka_bootstrap, trained, tmp_path):
    d = Deployment.create(kafka_bootstrap, trained, tmp_path)
    dpkg = b"2026-05-28 11:00:00 status installed cowsay:all 3.03"
    event = {"event_id": "wrong-topic-1", "user_id": "u7", "ts": 1_780_000_000_000, "type": "login"}
    a = d.start_worker("a", STREAMSCORE_TABLE_STORE="memory")
    reader = ResultReader(d)
    wave = mixed_workload(400, seed=90, malformed_frac=0.0)
    wave.malformed.clear()  # the only dead letters: the two records on the wrong topic
    try:
        d.produce(wave)
        with Publisher(d.settings, d.bootstrap) as pub:
            pub.send("activity", [dpkg], [b"u7"])
            pub.send("raw-logs", [json.dumps(event).encode()], [b"u7"])
        n_scores = len(MODELS) * wave.n_user_events  # users' events: hosts get no score
        reader.wait_for(n_scores, 2, 300, workers=[a])
    finally:
        stop(a)
        reader.close()
    activity, raw_logs = (d.prefix + "activity", d.prefix + "raw-logs")
    assert sum(reader.scores.values()) == n_scores, d.log_tail("a")
    assert all(eid != "wrong-topic-1" for eid, _ in reader.scores)
    assert sorted(topic for topic, _, _ in reader.dead) == [activity, raw_logs]
    assert all(n == 1 for n in reader.dead.values()), reader.dead
    reasons = sorted(reader.dead_reasons)
    assert reasons[0].startswith(
        "payload on the activity topic: expected activity JSON events "
        "or Arrow IPC batches of them, got a dpkg.log line"
    ), reasons
    assert reasons[1].startswith("payload on the raw-logs topic: expected log lines"), reasons
    assert "got activity JSON" in reasons[1]
