"""``etl --engine spark`` against the local engine: same events, same rejections, the same
normalisers and bit-identical feature matrices, for every kind of input we have."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pyarrow.parquet as pq
import pytest

from streams.etl import ParseOptions
from streams.etl.job import run_etl
from streams.spark.etl import EXCHANGE, run_etl_spark
from tests.unit.spark.conftest import feature_rows

OPTS = ParseOptions(reference_ms=1_764_000_000_000, default_host="testhost")


def _rejected(path) -> list[dict]:
    files = sorted(path.glob("part-*")) if path.is_dir() else [path]
    return [orjson.loads(line) for f in files for line in f.read_bytes().splitlines()]


@pytest.mark.parametrize("case", ["fixtures+bad", "history", "drift"])
def test_spark_etl_equals_local(case, etl_inputs, spark, tmp_path):
    inputs = etl_inputs[case]
    local = run_etl(inputs, tmp_path / "local", options=OPTS, progress=False)
    far = run_etl_spark(inputs, tmp_path / "spark", options=OPTS, partitions=3)

    assert far.per_file == local.per_file
    assert not (tmp_path / "spark" / EXCHANGE).exists()  # the parse's events by bucket: gone
    assert far.total == local.total and local.total.events > 0
    assert [str(r.origin) for r in far.first_rejected] == [
        str(r.origin) for r in local.first_rejected
    ]
    # events: same rows in the same order (part files are in input order)
    a = pq.read_table(local.outputs["events"])
    b = pq.read_table(far.outputs["events"]).cast(a.schema)
    assert b.equals(a)
    # rejections: same origins, stages, reasons and bytes, in order
    assert _rejected(far.outputs["rejected"]) == _rejected(local.outputs["rejected"])
    if case == "fixtures+bad":
        assert local.total.rejected >= 60
    # features: same fitted pipeline, bit-identical vectors for the same events
    names = [k for k in local.outputs if k.startswith("features")]
    assert names and sorted(names) == sorted(k for k in far.outputs if k.startswith("features"))
    for name in names:
        suffix = name[len("features") :]
        doc_a = json.loads(local.outputs[f"pipeline{suffix}"].read_text())
        doc_b = json.loads(far.outputs[f"pipeline{suffix}"].read_text())
        assert doc_b == doc_a
        keys_a, x_a, names_a = feature_rows(local.outputs[name])
        keys_b, x_b, names_b = feature_rows(far.outputs[name])
        assert far.feature_rows[name] == local.feature_rows[name] == len(keys_a)
        assert keys_b == keys_a and names_b == names_a
        assert np.array_equal(x_a.view(np.uint32), x_b.view(np.uint32))


def test_spark_etl_rejected_parquet_and_a_folder_input(etl_inputs, spark, tmp_path):
    bad = etl_inputs["fixtures+bad"][-1].parent  # the generated bad-input folder
    files = sorted(p for p in bad.iterdir())
    local = run_etl(files, tmp_path / "local", options=OPTS, rejected_format="parquet",
                    features=False, progress=False)  # fmt: skip
    far = run_etl_spark([str(bad)], tmp_path / "spark", options=OPTS,
                        rejected_format="parquet", features=False)  # fmt: skip
    assert far.total == local.total
    a = pq.read_table(local.outputs["rejected"])
    b = pq.read_table(far.outputs["rejected"]).cast(a.schema)
    assert a.num_rows == local.total.rejected > 0
    assert b.equals(a)
    assert not any(k.startswith("features") for k in far.outputs)


def test_a_fitted_pipeline_given_as_spec_is_used_not_refitted(etl_inputs, spark, tmp_path):
    inputs = etl_inputs["history"]
    first = run_etl(inputs, tmp_path / "first", options=OPTS, progress=False)
    spec = first.outputs["pipeline-activity"]
    local = run_etl(inputs[:1], tmp_path / "local", spec_path=spec, options=OPTS,
                    progress=False)  # fmt: skip
    far = run_etl_spark(inputs[:1], tmp_path / "spark", spec_path=spec, options=OPTS)
    assert json.loads(far.outputs["pipeline"].read_text()) == json.loads(spec.read_text())
    keys_a, x_a, _ = feature_rows(local.outputs["features"])
    keys_b, x_b, _ = feature_rows(far.outputs["features"])
    assert keys_a == keys_b and np.array_equal(x_a.view(np.uint32), x_b.view(np.uint32))
