"""Registry: versions, champion history, promote/rollback, crash safety."""

from __future__ import annotations

import io
import json
import shutil
import tarfile

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
    v1 = reg.register(
        "churn",
        logistic,
        baseline=logistic,
        pipeline=fitted_pipeline,
        train_range={"start_ms": 1, "end_ms": 2},
        metrics={"model": {"auc": 0.8}},
        status="champion",
    )
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
        reg.register(
            "churn", logistic, baseline=logistic, pipeline=fitted_pipeline, status="champion"
        )
    v2 = here.register(
        "churn",
        logistic,
        baseline=logistic,
        pipeline=fitted_pipeline,
        parent="v0001",
        drift_reference={"edges": np.zeros((2, 3))},
    )
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


@pytest.mark.parametrize("name", ["../../../outside/evil", "/tmp/evil", "v0001/../../x", "..", ""])
def test_a_version_name_the_registry_does_not_write_is_refused(tmp_path, logistic, name):
    reg = ModelRegistry(tmp_path / "models")
    v1 = reg.register("churn", logistic, status="champion")
    outside = tmp_path / "outside" / "evil"
    outside.parent.mkdir()
    shutil.copytree(v1.path, outside)  # a complete version, planted outside the registry
    for call in (
        lambda: reg.get("churn", name),
        lambda: reg.promote("churn", name),
        lambda: reg.make_champion("churn", name),
        lambda: reg.import_version("churn", name, reg.export_version("churn", "v0001")),
    ):
        with pytest.raises(RegistryError, match="expected a name like 'v0003'"):
            call()
    assert reg.champion("churn").version == "v0001"
    assert sorted(p.name for p in (tmp_path / "outside").iterdir()) == ["evil"]


def test_applying_an_event_that_names_a_path_outside_the_registry_changes_nothing(
    tmp_path, logistic
):
    from streams.learning.events import ModelEvent, apply_event

    reg = ModelRegistry(tmp_path / "state" / "models")
    v1 = reg.register("churn", logistic, status="champion")
    evil = "../../../outside/evil"
    planted = reg.root / "churn" / evil
    shutil.copytree(v1.path, planted)
    event = ModelEvent(
        "churn", "promoted", "v0001", evil, artifact=reg.export_version("churn", "v0001")
    )
    with pytest.raises(RegistryError, match="outside/evil"):
        apply_event(reg, event)
    assert reg.champion("churn").version == "v0001"
    assert [v.version for v in reg.versions("churn")] == ["v0001"]
    with pytest.raises(ValueError, match="expected a name like 'v0003'"):
        ModelEvent.from_json(event.to_json())  # what a worker reads from the topic


def _tarball(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_an_archive_bomb_is_refused_before_it_is_extracted(tmp_path):
    reg = ModelRegistry(tmp_path)
    bomb = _tarball([("v0007/manifest.json", b"{}"), ("v0007/zeros", bytes(50 << 20))])
    assert len(bomb) < 200_000  # 50 MB that gzip to ~50 KB: a ratio of ~1000
    with pytest.raises(RegistryError, match=r"expected at most \d+ extracted bytes"):
        reg.import_version("churn", "v0007", bomb)
    assert not (tmp_path / "churn" / "v0007").exists()
    assert not [p for p in (tmp_path / "churn").iterdir() if p.name.startswith(".tmp")]


def test_archive_limits_on_members_and_total_bytes(tmp_path):
    from models.registry import ImportLimits

    reg = ModelRegistry(tmp_path)
    many = _tarball([(f"v0008/f{i}", b"x") for i in range(300)])
    with pytest.raises(RegistryError, match="expected at most 256 members"):
        reg.import_version("churn", "v0008", many)
    random_bytes = np.random.default_rng(0).bytes(64 << 10)  # incompressible: ratio ~1
    big = _tarball([("v0008/manifest.json", b"{}"), ("v0008/blob", random_bytes)])
    with pytest.raises(RegistryError, match="limit 10000 bytes"):
        reg.import_version("churn", "v0008", big, ImportLimits(max_bytes=10_000))
    with pytest.raises(RegistryError, match="expected a gzip'd tar"):
        reg.import_version("churn", "v0008", b"not a tarball")
    assert not (tmp_path / "churn" / "v0008").exists()


def test_a_real_version_is_within_the_default_import_limits(tmp_path, logistic, fitted_pipeline):
    here = ModelRegistry(tmp_path / "here")
    v1 = here.register(
        "churn",
        logistic,
        baseline=logistic,
        pipeline=fitted_pipeline,
        status="champion",
        drift_reference={"edges": np.zeros((200, 12))},
    )
    there = ModelRegistry(tmp_path / "there")
    got = there.import_version("churn", "v0001", here.export_version("churn", "v0001"))
    assert got.artifacts == v1.artifacts


def test_a_version_names_the_entity_kinds_its_model_scores(tmp_path, churn_set, fitted_pipeline):
    """The manifest carries the model's entity kinds; a manifest written before the field
    reads as users (what churn and upsell models were made for); the baseline must score
    what the model scores."""
    from models.logistic import LogisticModel
    from schemas.events import EntityKind

    def fitted(kinds):
        m = LogisticModel()
        m.entity_kinds = kinds
        m.fit(churn_set.X, churn_set.y, names=churn_set.names, fingerprint=churn_set.fingerprint)
        return m

    reg = ModelRegistry(tmp_path)
    both = (EntityKind.USER, EntityKind.HOST)
    v1 = reg.register("churn", fitted(both), baseline=fitted(both), pipeline=fitted_pipeline)
    assert v1.entity_kinds == ("user", "host") and v1.to_dict()["entity_kinds"] == ["user", "host"]
    assert json.loads((v1.path / "manifest.json").read_text())["entity_kinds"] == ["user", "host"]
    assert reg.load("churn", "v0001").entity_kinds == both
    assert reg.load("churn", "v0001", part="baseline").entity_kinds == both

    v2 = reg.register("upsell", fitted((EntityKind.USER,)))
    manifest = json.loads((v2.path / "manifest.json").read_text())
    del manifest["entity_kinds"]  # a version registered before models declared their kinds
    (v2.path / "manifest.json").write_text(json.dumps(manifest))
    assert reg.get("upsell", v2.version).entity_kinds == ("user",)

    manifest["entity_kinds"] = ["robot"]
    (v2.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RegistryError, match=r"manifest.json: entity_kinds: expected names among"):
        reg.get("upsell", v2.version)

    with pytest.raises(RegistryError, match="expected the baseline to score the model's entity"):
        reg.register("churn", fitted(both), baseline=fitted((EntityKind.USER,)))
