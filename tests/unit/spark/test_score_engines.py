"""``score --engine spark`` against the local engine: the same score rows (ScoreBatch columns)
for every event and champion that scores its entity kind (churn and upsell: users, so the log
lines' hosts get none), scores within 1e-6; and ``--version`` pins a version."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from streams.errors import ConfigError
from streams.etl import ParseOptions
from streams.pipeline.backfill import SCORE_SCHEMA, run_score
from streams.spark.etl import EXCHANGE
from streams.spark.score import run_score_spark

OPTS = ParseOptions(reference_ms=1_764_000_000_000, default_host="testhost")
KEYS = ["model_name", "entity", "event_time_ms", "event_id"]


@pytest.fixture(scope="module")
def settings(tmp_path_factory, etl_inputs):
    """A registry with logistic churn and upsell champions trained on the simulated history."""
    from models.registry import ModelRegistry
    from models.simulate import read_simulation
    from models.training import fit_pipeline, train_task
    from streams.settings import load_settings

    settings = load_settings({}, state_dir=tmp_path_factory.mktemp("state"))
    events, labels = read_simulation(etl_inputs["history"][0].parent)
    pipeline = fit_pipeline(events)
    registry = ModelRegistry.from_settings(settings)
    for task in ("churn", "upsell"):
        train_task(task, events, labels, kind="logistic", pipeline=pipeline, registry=registry,
                   promote=True)  # fmt: skip
    return settings


def user_event_ids(result) -> set[str]:
    """The ids of the events (``events.parquet``) whose entity is a user (``user_id`` set)."""
    events = pq.read_table(result.outputs["events"], columns=["event_id", "user_id"])
    return set(events.filter(pc.is_valid(events["user_id"]))["event_id"].to_pylist())


def _sorted(path) -> pa.Table:
    table = pq.read_table(path)
    return table.take(pc.sort_indices(table, [(k, "ascending") for k in KEYS]))


@pytest.mark.parametrize("case", ["drift", "fixtures+bad"])
def test_spark_scores_equal_local(case, etl_inputs, settings, spark, tmp_path):
    inputs = etl_inputs[case]
    local = run_score(inputs, tmp_path / "local", settings, options=OPTS)
    far = run_score_spark(inputs, tmp_path / "spark", settings, options=OPTS, partitions=3)
    assert far.etl.total == local.etl.total
    assert not (tmp_path / "spark" / EXCHANGE).exists()  # the parse's events by bucket: gone
    users = user_event_ids(local)
    assert 0 < len(users) < local.etl.total.events  # the inputs' log lines name hosts
    assert local.rows == far.rows == {"churn": len(users), "upsell": len(users)}
    a, b = _sorted(local.outputs["scores"]), _sorted(far.outputs["scores"])
    assert set(a.column("event_id").to_pylist()) == users  # no host's event has a score
    assert a.schema == SCORE_SCHEMA
    b = b.cast(SCORE_SCHEMA)
    for name in ("event_id", "entity", "model_name", "model_version", "fallback", "served_by",
                 "event_time_ms"):  # fmt: skip
        assert b.column(name).equals(a.column(name)), name
    sa = a.column("score").to_numpy()
    sb = b.column("score").to_numpy()
    assert np.abs(sa - sb).max() <= 1e-6
    assert 0.0 < sa.mean() < 1.0 and sa.std() > 0  # real scores, not a constant
    near = np.abs(sa - 0.5) <= 1e-6  # the threshold: a decision may flip only there
    da, db = a.column("decision").to_numpy(), b.column("decision").to_numpy()
    assert np.array_equal(da[~near], db[~near])
    assert len(set(a.column("scored_time_ms").to_pylist())) == 1


def test_version_pins_a_registry_version(etl_inputs, settings, tmp_path):
    from models.registry import ModelRegistry

    version = ModelRegistry.from_settings(settings).champion("churn").version
    inputs = etl_inputs["history"][:1]
    pinned = run_score(inputs, tmp_path / "v", settings, tasks=["churn"], version=version,
                       options=OPTS)  # fmt: skip
    table = pq.read_table(pinned.outputs["scores"])
    assert set(table.column("model_version").to_pylist()) == {version}
    assert pinned.rows == {"churn": len(user_event_ids(pinned))}
    with pytest.raises(ConfigError, match="v99"):
        run_score(inputs, tmp_path / "w", settings, version="v99", options=OPTS)
