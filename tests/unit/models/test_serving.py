"""Batched scoring: engine choice by measurement, warm-up, and the fallback chain."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.errors import FeatureMismatchError, ModelError
from models.registry import ModelRegistry
from models.serving import AGREEMENT, FallbackScorer, LiteRTEngine, ModelScorer, TFFunctionEngine


@pytest.fixture(scope="module")
def mlp(churn_set):
    from models.mlp import MLPModel, MLPParams

    m = MLPModel(MLPParams(epochs=2, hidden=(8,)))
    m.fit(churn_set.X, churn_set.y, names=churn_set.names, fingerprint=churn_set.fingerprint)
    return m


@pytest.fixture(scope="module")
def registry_template(tmp_path_factory, mlp, churn_set) -> Path:
    """Two champion versions of ``mlp`` with a logistic baseline, registered (and exported to
    LiteRT) once per module; each test gets a copy of its own in :func:`registry`."""
    from models.logistic import LogisticModel

    base = LogisticModel()
    base.fit(churn_set.X, churn_set.y, names=churn_set.names, fingerprint=churn_set.fingerprint)
    root = tmp_path_factory.mktemp("registry")
    reg = ModelRegistry(root)
    reg.register("churn", mlp, baseline=base, status="champion")
    reg.register("churn", mlp, baseline=base, status="champion", parent="v0001")
    return root


@pytest.fixture
def registry(tmp_path, registry_template):
    shutil.copytree(registry_template, tmp_path, dirs_exist_ok=True)
    return ModelRegistry(tmp_path)


@pytest.mark.parametrize("signed_log", [False, True])
def test_litert_export_agrees_with_tf_function(signed_log, churn_set, tmp_path):
    from models.mlp import MLPModel, MLPParams

    mlp = MLPModel(MLPParams(epochs=1, hidden=(8,), signed_log=signed_log))
    mlp.fit(churn_set.X, churn_set.y, names=churn_set.names, fingerprint=churn_set.fingerprint)
    mlp.save(tmp_path)
    lite = LiteRTEngine(tmp_path / "model.tflite", len(churn_set.names))
    tf_engine = TFFunctionEngine(mlp)
    for rows in (1, 7, 300):
        X = churn_set.X[:rows]
        np.testing.assert_allclose(lite(X), tf_engine(X), rtol=0, atol=AGREEMENT)


def test_scorer_chooses_an_engine_by_measurement(mlp, churn_set, tmp_path):
    mlp.save(tmp_path)
    scorer = ModelScorer(mlp, tmp_path)
    rep = scorer.engine_report
    assert rep["engine"] in ("litert", "tf_function")
    assert rep["max_abs_diff"] <= AGREEMENT or rep["engine"] == "tf_function"
    expected = mlp.score(churn_set.X, churn_set.names)
    np.testing.assert_allclose(scorer.score(churn_set.X, churn_set.names), expected, atol=AGREEMENT)
    assert scorer.score(churn_set.X[:0]).shape == (0,)


def test_champion_serves_and_says_so(registry, churn_set):
    fs = FallbackScorer(registry, "churn", fingerprint=churn_set.fingerprint)
    res = fs.score(churn_set.X, churn_set.names)
    assert (res.version, res.kind, res.fallback_level, res.errors) == ("v0002", "mlp", 0, ())
    assert fs.served_by == ["v0002/model", "v0001/model", "v0002/baseline"]


def test_corrupt_champion_falls_back_to_previous_version(registry, churn_set):
    (registry.get("churn", "v0002").path / "model" / "model.keras").write_bytes(b"junk")
    fs = FallbackScorer(registry, "churn", fingerprint=churn_set.fingerprint)
    res = fs.score(churn_set.X, churn_set.names)
    assert (res.version, res.kind, res.fallback_level) == ("v0001", "mlp", 1)
    assert any("v0002/model" in e and "SHA-256" in e for e in res.errors)


def _set_record(registry, version: str, **changes) -> None:
    path = registry.get("churn", version).path / "model" / "serving.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


LOAD_AND_SCORE = """
import json, sys
import numpy as np
from models.registry import ModelRegistry
from models.serving import FallbackScorer
fs = FallbackScorer(ModelRegistry(sys.argv[1]), "churn")
X = np.load(sys.argv[2])
res = fs.score(X)
np.save(sys.argv[3], res.scores)
print(json.dumps({"engine": res.engine, "version": res.version, "degraded": res.degraded,
                  "tensorflow": "tensorflow" in sys.modules, "keras": "keras" in sys.modules}))
"""


def test_a_champion_whose_record_chose_litert_serves_without_importing_tensorflow(
    registry, mlp, churn_set, tmp_path
):
    """The engine record saved with a model lets a worker serve its LiteRT export, checked
    against the recorded Keras scores, without TensorFlow's import (~8 CPU-s of a start)."""
    record = json.loads(
        (registry.get("churn", "v0002").path / "model" / "serving.json").read_text()
    )
    assert record["engine"] in ("litert", "tf_function") and len(record["reference_scores"]) == 1024
    assert set(record["sha256"]) == {"model.keras", "model.tflite"}
    for v in ("v0001", "v0002"):
        _set_record(registry, v, engine="litert")
    np.save(tmp_path / "X.npy", churn_set.X[:300])
    out = subprocess.run(
        [sys.executable, "-c", LOAD_AND_SCORE, str(registry.root), str(tmp_path / "X.npy"),
         str(tmp_path / "s.npy")],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[3],
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    said = json.loads(out.stdout.splitlines()[-1])
    assert said == {
        "engine": "litert",
        "version": "v0002",
        "degraded": None,
        "tensorflow": False,
        "keras": False,
    }
    np.testing.assert_allclose(
        np.load(tmp_path / "s.npy"), mlp.score(churn_set.X[:300], churn_set.names), atol=AGREEMENT
    )


def test_a_record_that_chose_tf_function_serves_the_keras_model(registry, churn_set):
    _set_record(registry, "v0002", engine="tf_function")
    fs = FallbackScorer(registry, "churn")
    assert fs.score(churn_set.X[:5], churn_set.names).engine == "tf_function"
    assert fs.describe()["chain"][0]["engine"]["recorded"] is True


def test_an_export_that_disagrees_with_the_recorded_scores_serves_keras_degraded(
    registry, mlp, churn_set
):
    path = registry.get("churn", "v0002").path / "model" / "serving.json"
    ref = json.loads(path.read_text())["reference_scores"]
    _set_record(registry, "v0002", engine="litert", reference_scores=[r + 0.01 for r in ref])
    res = FallbackScorer(registry, "churn").score(churn_set.X, churn_set.names)
    assert (res.version, res.engine, res.fallback_level) == ("v0002", "tf_function", 0)
    assert "differ from the recorded Keras scores" in res.degraded
    np.testing.assert_allclose(res.scores, mlp.score(churn_set.X, churn_set.names), atol=1e-6)


def test_a_model_saved_without_a_record_measures_both_engines_at_load(registry, churn_set):
    for v in ("v0001", "v0002"):
        (registry.get("churn", v).path / "model" / "serving.json").unlink()
    fs = FallbackScorer(registry, "churn")
    report = fs.describe()["chain"][0]["engine"]
    assert "seconds_litert" in report and "recorded" not in report
    assert fs.score(churn_set.X[:5], churn_set.names).version == "v0002"


def test_every_mlp_corrupt_falls_back_to_baseline(registry, churn_set):
    for v in ("v0001", "v0002"):
        (registry.get("churn", v).path / "model" / "model.keras").write_bytes(b"junk")
    res = FallbackScorer(registry, "churn").score(churn_set.X, churn_set.names)
    assert (res.version, res.kind, res.engine, res.fallback_level) == (
        "v0002",
        "logistic",
        "numpy",
        2,
    )
    assert 0.5 < float(np.mean((res.scores > 0.5) == churn_set.y)) <= 1.0


def test_model_raising_at_score_time_falls_back(registry, churn_set):
    fs = FallbackScorer(registry, "churn")

    def broken(X):
        raise RuntimeError("device lost")

    fs._chain[0][4].engine = broken
    res = fs.score(churn_set.X[:10], churn_set.names)
    assert res.version == "v0001" and "device lost" in res.errors[0]


def test_nan_output_is_a_failure_not_a_score(registry, churn_set):
    fs = FallbackScorer(registry, "churn")
    fs._chain[0][4].engine = lambda X: np.full(len(X), np.nan, np.float32)
    res = fs.score(churn_set.X[:10], churn_set.names)
    assert res.fallback_level == 1 and np.isfinite(res.scores).all()


def test_wrong_features_raise_instead_of_falling_back(registry, churn_set):
    fs = FallbackScorer(registry, "churn")
    with pytest.raises(FeatureMismatchError):
        fs.score(churn_set.X[:, ::-1], churn_set.names[::-1])


def test_wrong_pipeline_everywhere_is_an_error_naming_the_chain(registry):
    with pytest.raises(ModelError, match="no model of the chain loaded"):
        FallbackScorer(registry, "churn", fingerprint="sha256:other")


def test_challenger_in_shadow_falls_back_to_the_champion(registry, churn_set, mlp):
    registry.register("churn", mlp)  # v0003, challenger, registered without a baseline
    fs = FallbackScorer(registry, "churn", version="v0003")
    assert fs.served_by == ["v0003/model", "v0002/model"]
    assert "has no baseline" in fs.errors[0]
    assert fs.score(churn_set.X[:5], churn_set.names).version == "v0003"


def test_refresh_hot_swaps_to_a_new_champion(registry, churn_set, mlp):
    fs = FallbackScorer(registry, "churn")
    assert fs.refresh() is False
    registry.register("churn", mlp, status="champion")  # v0003
    assert fs.refresh() is True
    assert fs.score(churn_set.X[:5], churn_set.names).version == "v0003"
    d = fs.describe()
    assert d["champion"] == "v0003" and d["chain"][0]["engine"]["engine"] in (
        "litert",
        "tf_function",
    )


@pytest.mark.parametrize("damage", ["junk", "truncated"])
def test_a_corrupt_litert_export_serves_the_keras_model_flagged_degraded(
    damage, tmp_path, mlp, churn_set, fitted_pipeline, caplog
):
    """The LiteRT file is an optional speed-up: losing it must not cost the champion."""
    from prometheus_client import REGISTRY

    from models.logistic import LogisticModel
    from streams.metrics import set_degraded
    from streams.scoring import load_model_set
    from streams.settings import load_settings

    base = LogisticModel()
    base.fit(churn_set.X, churn_set.y, names=churn_set.names, fingerprint=churn_set.fingerprint)
    reg = ModelRegistry(tmp_path / "models")
    for parent in (None, "v0001"):
        reg.register(
            "churn", mlp, baseline=base, pipeline=fitted_pipeline, parent=parent, status="champion"
        )
    tflite = reg.get("churn", "v0002").path / "model" / "model.tflite"
    data = tflite.read_bytes()
    tflite.write_bytes(b"junk" * 64 if damage == "junk" else data[: len(data) // 3])

    fs = FallbackScorer(reg, "churn", fingerprint=churn_set.fingerprint)
    res = fs.score(churn_set.X, churn_set.names)
    assert (res.version, res.kind, res.engine, res.fallback_level) == (
        "v0002",
        "mlp",
        "tf_function",
        0,
    )
    assert res.degraded and "model.tflite" in res.degraded
    np.testing.assert_allclose(res.scores, mlp.score(churn_set.X, churn_set.names), atol=1e-6)
    assert list(fs.degraded) == ["v0002/model"]
    assert any("v0002/model serves degraded" in r.getMessage() for r in caplog.records)

    model_set = load_model_set(load_settings(env={}, state_dir=tmp_path), ["churn"])
    assert list(model_set.degraded) == [("churn", "v0002/model")]
    set_degraded(model_set.degraded)  # what the worker does when it installs the set
    labels = {"task": "churn", "served_by": "v0002/model"}
    assert REGISTRY.get_sample_value("streamscore_model_degraded", labels) == 1.0
    set_degraded({})
    assert REGISTRY.get_sample_value("streamscore_model_degraded", labels) is None
