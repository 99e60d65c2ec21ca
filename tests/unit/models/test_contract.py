"""The shared contract, run over every registered model kind automatically."""

from __future__ import annotations

import numpy as np
import pytest

from models.errors import FeatureMismatchError, FingerprintMismatchError, ModelLoadError
from models.kinds import load_model


def test_save_then_load_gives_identical_scores(trained, churn_set, tmp_path):
    kind, model = trained
    before = model.score(churn_set.X, churn_set.names)
    model.save(tmp_path / kind)
    loaded = load_model(tmp_path / kind, fingerprint=churn_set.fingerprint)
    assert loaded.kind == kind
    after = loaded.score(churn_set.X, churn_set.names)
    np.testing.assert_array_equal(before, after)
    assert before.dtype == np.float32 and before.shape == (len(churn_set),)
    assert ((before > 0) & (before < 1)).all()


def test_batch_score_equals_loop_of_single_scores(trained, churn_set):
    _, model = trained
    X = churn_set.X[:50]
    batch = model.score(X, churn_set.names)
    singles = np.array([model.score(X[i : i + 1], churn_set.names)[0] for i in range(len(X))])
    np.testing.assert_allclose(batch, singles, rtol=0, atol=1e-6)


def test_missing_feature_raises_clear_error(trained, churn_set):
    _, model = trained
    names = churn_set.names[:-1]
    with pytest.raises(FeatureMismatchError, match=r"missing \['" + churn_set.names[-1]):
        model.score(churn_set.X[:5, :-1], names)


def test_extra_feature_raises_clear_error(trained, churn_set):
    _, model = trained
    X = np.hstack([churn_set.X[:5], np.zeros((5, 1), np.float32)])
    with pytest.raises(FeatureMismatchError, match=r"extra \['bogus'\]"):
        model.score(X, (*churn_set.names, "bogus"))


def test_reordered_features_raise_clear_error(trained, churn_set):
    _, model = trained
    names = list(churn_set.names)
    names[0], names[1] = names[1], names[0]
    with pytest.raises(FeatureMismatchError, match="reordered: column 0"):
        model.score(churn_set.X[:5], names)


def test_wrong_width_matrix_raises(trained, churn_set):
    _, model = trained
    with pytest.raises(FeatureMismatchError, match="columns"):
        model.score(churn_set.X[:5, :3], churn_set.names)


def test_load_against_other_pipeline_names_both_fingerprints(trained, churn_set, tmp_path):
    kind, model = trained
    model.save(tmp_path / kind)
    with pytest.raises(FingerprintMismatchError) as err:
        load_model(tmp_path / kind, fingerprint="sha256:other")
    assert churn_set.fingerprint in str(err.value) and "sha256:other" in str(err.value)


def test_corrupt_artifact_raises_model_load_error(trained, tmp_path):
    kind, model = trained
    model.save(tmp_path / kind)
    for f in (tmp_path / kind).iterdir():
        if f.name != "model.json":
            f.write_bytes(b"\x00garbage")
    with pytest.raises(ModelLoadError):
        load_model(tmp_path / kind)


def test_describe_is_plain_json(trained, churn_set):
    import json

    kind, model = trained
    d = json.loads(json.dumps(model.describe()))
    assert d["kind"] == kind and d["n_features"] == len(churn_set.names)
    assert d["fingerprint"] == churn_set.fingerprint


def test_fit_rejects_non_binary_labels(trained, churn_set):
    from models.kinds import new_model

    kind, _ = trained
    y = churn_set.y.astype(np.int64) * 2
    with pytest.raises(ValueError, match="labels in"):
        new_model(kind).fit(churn_set.X, y, names=churn_set.names, fingerprint="x")


def test_corrupt_artifact_triggers_fallback_not_a_crash(trained, churn_set, tmp_path):
    from models.logistic import LogisticModel
    from models.registry import ModelRegistry
    from models.serving import FallbackScorer

    kind, model = trained
    baseline = LogisticModel()
    baseline.fit(churn_set.X, churn_set.y, names=churn_set.names, fingerprint=churn_set.fingerprint)
    reg = ModelRegistry(tmp_path)
    info = reg.register("churn", model, baseline=baseline, status="champion")
    for f in (info.path / "model").iterdir():
        if f.name != "model.json":
            f.write_bytes(b"\x00corrupt")
    res = FallbackScorer(reg, "churn", fingerprint=churn_set.fingerprint).score(
        churn_set.X, churn_set.names
    )
    assert (res.kind, res.fallback_level) == ("logistic", 2)
    assert "v0001/model" in res.errors[0]
    np.testing.assert_allclose(res.scores, baseline.score(churn_set.X, churn_set.names))


def test_entity_kinds_are_declared_saved_and_loaded(trained, tmp_path):
    """Every model kind declares the entity kinds it scores (users by default), keeps them
    through save -> load, and describes them."""
    import json

    from models.contract import DEFAULT_ENTITY_KINDS
    from schemas.events import EntityKind

    kind, model = trained
    assert model.entity_kinds == DEFAULT_ENTITY_KINDS == (EntityKind.USER,)
    assert model.describe()["entity_kinds"] == ["user"]
    declared = (EntityKind.USER, EntityKind.HOST)
    model.entity_kinds = declared
    try:
        model.save(tmp_path / kind)
    finally:
        model.entity_kinds = DEFAULT_ENTITY_KINDS  # the fixture is shared
    meta = json.loads((tmp_path / kind / "model.json").read_text())
    assert meta["entity_kinds"] == ["user", "host"]
    assert load_model(tmp_path / kind).entity_kinds == declared


def test_a_model_saved_without_entity_kinds_scores_users(trained, tmp_path):
    """A ``model.json`` from before the field: users, what churn and upsell were made for.
    A field that names an unknown kind is a load error saying what was expected."""
    import json

    kind, model = trained
    model.save(tmp_path / kind)
    path = tmp_path / kind / "model.json"
    meta = json.loads(path.read_text())
    del meta["entity_kinds"]
    path.write_text(json.dumps(meta))
    assert load_model(tmp_path / kind).entity_kinds == ("user",)
    meta["entity_kinds"] = ["users"]
    path.write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match=r"entity_kinds: expected names among \['user'"):
        load_model(tmp_path / kind)
