"""Registry: versions, champion history, promote/rollback, crash safety."""

from __future__ import annotations

import json

import numpy as np
import pytest

from models.errors import RegistryError
from models.registry import ModelRegistry


@pytest.fixture
def logistic(churn_set):
    from models.logistic import LogisticModel

    m = LogisticModel()
    m.fit(churn_set.X, churn_set.y, names=churn_set.names, fingerprint=churn_set.fingerprint)
    return m


def test_register_writes_manifest_and_first_becomes_champion_only_when_asked(
    tmp_path, logistic, fitted_pipeline
):
    reg = ModelRegistry(tmp_path)
    v1 = reg.register("churn", logistic, baseline=logistic, pipeline=fitted_pipeline,
                      train_range={"start_ms": 1, "end_ms": 2}, metrics={"model": {"auc": 0.8}},
                      status="champion")
    assert v1.version == "v0001" and v1.status == "champion"
    assert v1.fingerprint == fitted_pipeline.fingerprint
    assert {"model/model.json", "baseline/weights.npz", "pipeline.json"} <= set(v1.artifacts)
    manifest = json.loads((v1.path / "manifest.json").read_text())
    assert manifest["train_range"] == {"start_ms": 1, "end_ms": 2}
    assert manifest["metrics"]["model"]["auc"] == 0.8
    v2 = reg.register("churn", logistic, parent="v0001")
    assert (v2.version, v2.status, v2.parent) == ("v0002", "challenger", "v0001")
    assert reg.champion("churn").version == "v0001"
    assert reg.load_pipeline("churn", "v0001").fingerprint == fitted_pipeline.fingerprint


def test_promote_and_rollback(tmp_path, logistic):
    reg = ModelRegistry(tmp_path)
    for _ in range(3):
        reg.register("upsell", logistic)
    reg.promote("upsell", "v0001")
    reg.promote("upsell", "v0003")
    status = {v.version: v.status for v in reg.versions("upsell")}
    assert status == {"v0001": "retired", "v0002": "challenger", "v0003": "champion"}
    assert reg.previous_champion("upsell").version == "v0001"
    back = reg.rollback("upsell")
    assert back.version == "v0001" and back.status == "champion"
    assert reg.get("upsell", "v0003").status == "retired"
    with pytest.raises(RegistryError, match="previous champion"):
        reg.rollback("upsell")


def test_unknown_version_and_task_are_clear_errors(tmp_path, logistic):
    reg = ModelRegistry(tmp_path)
    with pytest.raises(RegistryError, match="v0042"):
        reg.promote("churn", "v0042")
    with pytest.raises(RegistryError, match="expected one of"):
        reg.register("fraud", logistic)


def test_crash_mid_write_leaves_no_version(tmp_path, logistic, monkeypatch):
    reg = ModelRegistry(tmp_path)
    reg.register("churn", logistic, status="champion")

    def boom(path):
        (path / "half-written").parent.mkdir(parents=True, exist_ok=True)
        (path / "half-written").write_text("x")
        raise OSError("disk full")

    monkeypatch.setattr(logistic, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        reg.register("churn", logistic)
    assert [v.version for v in reg.versions("churn")] == ["v0001"]
    assert not [p for p in (tmp_path / "churn").iterdir() if p.name.startswith(".tmp")]
    assert reg.champion("churn").version == "v0001"


def test_state_file_is_replaced_not_edited(tmp_path, logistic):
    reg = ModelRegistry(tmp_path)
    reg.register("churn", logistic)
    before = (tmp_path / "churn" / "state.json").stat().st_ino
    reg.promote("churn", "v0001")
    assert (tmp_path / "churn" / "state.json").stat().st_ino != before


def test_a_version_travels_as_a_tarball_and_applying_an_event_is_idempotent(
    tmp_path, logistic, fitted_pipeline
):
    from streams.learning.events import ModelEvent, apply_event, champion_event

    here = ModelRegistry(tmp_path / "here")
    there = ModelRegistry(tmp_path / "there")  # another machine: no shared disk
    for reg in (here, there):
        reg.register("churn", logistic, baseline=logistic, pipeline=fitted_pipeline,
                     status="champion")
    v2 = here.register("churn", logistic, baseline=logistic, pipeline=fitted_pipeline,
                       parent="v0001", drift_reference={"edges": np.zeros((2, 3))})
    here.promote("churn", v2.version)
    event = ModelEvent.from_json(champion_event(here, "churn", "promoted", v2.version).to_json())
    assert event.champion == "v0002" and event.artifact
    assert apply_event(there, event) is True
    assert there.champion("churn").version == "v0002"
    assert there.get("churn", "v0002").artifacts == v2.artifacts
    assert (there.get("churn", "v0002").path / "drift_reference.npz").exists()
    assert apply_event(there, event) is False  # replayed: nothing changes
    assert [v.version for v in there.versions("churn")] == ["v0001", "v0002"]
    assert there.load("churn", "v0002").feature_names == logistic.feature_names


def test_decisions_are_logged_and_an_unsafe_tarball_is_refused(tmp_path, logistic):
    import io
    import tarfile

    reg = ModelRegistry(tmp_path)
    reg.register("churn", logistic, status="champion")
    reg.record_decision("churn", {"event": "discarded", "reason": "worse"})
    assert reg.decisions("churn") == [{"event": "discarded", "reason": "worse"}]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("../evil")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(RegistryError, match="expected only files under v0009"):
        reg.import_version("churn", "v0009", buf.getvalue())
