"""The worker app's shape: roles pick the input topics, a model subset is its own group."""

from __future__ import annotations

import pytest

from streams.pipeline.worker import create_app, scoring_service
from streams.settings import load_settings


@pytest.fixture
def settings(tmp_path):
    # Building the app connects to nothing; the address only has to look right.
    return load_settings(
        env={}, state_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:9", topic_prefix="t."
    )


def test_default_worker_consumes_both_inputs(settings):
    app = create_app(settings, model_set=object())  # type: ignore[arg-type]
    scoring = scoring_service(app)
    assert scoring.group == "t.worker.activity-logs.all"
    assert scoring.inputs == {"t.activity": "activity", "t.raw-logs": "raw-logs"}
    assert scoring.outputs["changelog"] == "t.worker.activity-logs.all-entity-windows-changelog"
    # Faust's own consumer group only elects the leader; it must not be the scoring group,
    # whose members use the range assignor.
    assert app.conf.id == "t.app.activity-logs.all"
    assert not app.agents


def test_one_model_on_its_own_worker_group(settings):
    churn_only = create_app(settings, roles=["activity"], models=["churn"], model_set=object())  # type: ignore[arg-type]
    assert scoring_service(churn_only).group == "t.worker.activity.churn"  # a group of its own
    assert scoring_service(churn_only).inputs == {"t.activity": "activity"}


def test_unknown_role_is_a_clear_error(settings):
    with pytest.raises(ValueError, match="unknown worker role"):
        create_app(settings, roles=["metrics"])


def test_with_a_token_every_worker_route_but_health_needs_it_and_faust_views_are_off(tmp_path):
    """Faust's /table/... (raw window-state bytes) and /router/... (worker addresses) answered
    anyone; now every route asks for the token, and those views are not served at all."""
    import asyncio

    from aiohttp.test_utils import TestClient, TestServer

    settings = load_settings(
        env={"STREAMSCORE_WEB_TOKEN": "s3cret"},
        state_dir=tmp_path,
        kafka_bootstrap_servers="127.0.0.1:9",
        topic_prefix="t.",
    )
    app = create_app(settings, model_set=object())  # type: ignore[arg-type]
    app.finalize()
    app.web.init_server()  # what the worker does at start: mount the views
    table = "/table/t.worker.activity-logs.all-entity-windows/"
    paths = ("/", "/table/", table, "/router/", "/metrics", "/metrics?token=wrong")

    async def check() -> None:
        async with TestClient(TestServer(app.web.web_app)) as client:
            for path in paths:
                assert (await client.get(path)).status == 401, path
            assert (await client.get("/healthz")).status == 200
            bearer = {"Authorization": "Bearer s3cret"}
            assert (await client.get("/metrics", headers=bearer)).status == 200
            assert (await client.get("/metrics?token=s3cret")).status == 200
            for path in ("/table/", table, "/router/"):
                assert (await client.get(path, headers=bearer)).status == 404, path

    asyncio.run(check())
