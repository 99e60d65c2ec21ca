"""``streamscore train --data`` on a folder the Spark path wrote, locally and with
``--engine spark``: both fit the same serving pipeline and register a model per task."""

from __future__ import annotations

import json

from streams.cli import main
from streams.etl import ParseOptions
from streams.spark.etl import run_etl_spark

OPTS = ParseOptions(reference_ms=1_764_000_000_000, default_host="testhost")


def test_train_on_a_spark_written_folder_local_and_spark(etl_inputs, spark, tmp_path):
    from models.registry import ModelRegistry

    sim = etl_inputs["history"][0].parent
    data = tmp_path / "data"
    run_etl_spark(etl_inputs["history"], data, options=OPTS, features=False)
    spark.read.parquet(str(sim / "labels.parquet")).write.parquet(str(data / "labels.parquet"))
    assert (data / "events.parquet").is_dir() and (data / "labels.parquet").is_dir()
    fingerprints = {}
    for engine in ("local", "spark"):
        state = tmp_path / f"state-{engine}"
        rc = main(["--state-dir", str(state), "train", "--data", str(data), "--kind",
                   "logistic", "--engine", engine, "--partitions", "3"])  # fmt: skip
        assert rc == 0
        registry = ModelRegistry(state / "models")
        for task in ("churn", "upsell"):
            champion = registry.champion(task)
            assert champion is not None and 0.0 <= champion.metrics["model"]["auc"] <= 1.0
            fingerprints[(engine, task)] = champion.fingerprint
            doc = json.loads((champion.path / "manifest.json").read_text())
            assert doc["train_range"]["rows"] > 0
    assert len(set(fingerprints.values())) == 1  # the same fitted pipeline everywhere
