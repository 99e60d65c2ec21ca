"""Feature files: each vector as the bytes of its float32 values (``feature_table``), read back
bit for bit by ``feature_matrix``."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streams.etl.errors import InputFormatError
from streams.etl.job import (
    FEATURE_ENCODING,
    feature_matrix,
    feature_table,
    run_etl,
    time_ordered,
)
from streams.features import FeaturePipeline, default_spec
from streams.features.pipeline import FeatureBatch
from tests.unit.etl.conftest import OPTS, fixture_lines


def _batch(rows: int, width: int) -> FeatureBatch:
    x = np.random.default_rng(rows).normal(size=(rows, width)).astype(np.float32)
    x[0, 0], x[-1, -1] = np.nan, -np.inf  # any bit pattern survives, not only finite values
    return FeatureBatch(
        X=x,
        names=tuple(f"f{j}" for j in range(width)),
        event_id=pa.array([f"e{i}" for i in range(rows)]),
        entity=pa.array(["h"] * rows),
        ts_ms=np.arange(rows, dtype=np.int64),
        fingerprint="sha256:x",
    )


def test_vectors_round_trip_bit_for_bit_through_a_parquet_file(tmp_path):
    fb = _batch(50, 7)
    table = feature_table(fb.to_arrow())
    assert table.schema.field("features").type == pa.binary(28)
    assert table.schema.metadata[b"feature_encoding"] == FEATURE_ENCODING.encode()
    assert json.loads(table.schema.metadata[b"feature_names"]) == list(fb.names)
    assert table.column_names == ["event_id", "entity", "ts_ms", "features"]
    pq.write_table(table, tmp_path / "f.parquet")
    back = feature_matrix(pq.read_table(tmp_path / "f.parquet"))
    assert back.dtype == np.float32 and back.shape == (50, 7)
    assert back.view(np.uint32).tobytes() == fb.X.view(np.uint32).tobytes()


def test_slices_and_several_chunks_keep_their_rows():
    fb = _batch(30, 5)
    full = fb.to_arrow()
    part = feature_table(full.slice(11, 9))  # an offset into the list's values
    assert np.array_equal(feature_matrix(part), fb.X[11:20], equal_nan=True)
    table = feature_table(full)
    chunked = pa.concat_tables([table.slice(0, 4), table.slice(4, 20), table.slice(24)])
    assert np.array_equal(feature_matrix(chunked), fb.X, equal_nan=True)
    assert np.array_equal(feature_matrix(table.slice(7, 3)), fb.X[7:10], equal_nan=True)
    assert feature_matrix(table.slice(0, 0)).shape == (0, 5)


def test_a_table_of_another_layout_is_refused_with_what_was_found():
    lists = _batch(3, 4).to_arrow()  # fixed-size lists, as FeatureBatch.to_arrow gives
    with pytest.raises(InputFormatError, match="expected a 'features' column of float32le"):
        feature_matrix(lists)
    with pytest.raises(InputFormatError, match="got None"):
        feature_matrix(pa.table({"x": [1]}))


def test_etl_feature_file_holds_the_transform_of_the_time_ordered_events(tmp_path):
    src = tmp_path / "syslog.log"
    src.write_bytes(b"\n".join(fixture_lines("syslog3164.log")) + b"\n")
    result = run_etl([src], tmp_path / "out", options=OPTS, progress=False)
    written = pq.read_table(result.outputs["features-logs"])
    events = time_ordered(pq.read_table(result.outputs["events"]))
    fitted = FeaturePipeline(default_spec("logs")).fit(events)
    fb = fitted.transform(events, fitted.new_state())
    assert len(fb) == written.num_rows > 5
    x = feature_matrix(written)
    assert x.view(np.uint32).tobytes() == fb.X.view(np.uint32).tobytes()
    assert written.column("event_id").to_pylist() == fb.event_id.to_pylist()
