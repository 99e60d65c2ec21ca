"""The exchange files between Spark's parse tasks and bucket tasks, without Spark: every event
reaches the task of its entity's bucket, in the local engine's order, and a task that fails
part way leaves nothing a bucket task would read."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from kernels.partition import kafka_partitions
from streams.etl.job import time_ordered
from streams.spark._tasks import BUCKET_SCHEMA, BucketedEvents, bucket_tables
from tests.support.events import activity_table

BUCKETS = 3


def _write(folder, file: int, table: pa.Table, chunk: int = 700) -> None:
    with BucketedEvents(str(folder), file, BUCKETS) as out:
        for batch in table.to_batches(max_chunksize=chunk):
            out.write(batch)


def _read(folder, buckets: list[int], n_files: int) -> dict[int, pa.Table]:
    numbers = pa.RecordBatch.from_arrays([pa.array(buckets, pa.int32())], schema=BUCKET_SCHEMA)
    return dict(bucket_tables(iter([numbers]), exchange_dir=str(folder), n_files=n_files))


def test_each_bucket_task_gets_its_entities_events_in_time_then_file_order(tmp_path):
    files = [activity_table(2000, seed=1), activity_table(1500, seed=2)]
    _write(tmp_path, 0, files[0])
    _write(tmp_path, 1, files[1].schema.empty_table())  # a file with no events
    _write(tmp_path, 2, files[1])

    got = _read(tmp_path, [2, 0, 1], n_files=3)

    assert sorted(got) == [0, 1, 2]
    events = pa.concat_tables(files)
    where = kafka_partitions(events.column("entity"), BUCKETS)
    for bucket, table in got.items():
        expected = time_ordered(events.filter(pa.array(where == bucket)))
        assert table.num_rows > 0 and table.equals(expected)
        assert set(np.unique(kafka_partitions(table.column("entity"), BUCKETS))) == {bucket}
    assert sum(t.num_rows for t in got.values()) == events.num_rows
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "000000.arrow", "000000.json", "000001.json", "000002.arrow", "000002.json"
    ]  # fmt: skip


def test_a_task_that_fails_part_way_leaves_no_exchange_file(tmp_path):
    table = activity_table(1000, seed=3)
    with pytest.raises(RuntimeError), BucketedEvents(str(tmp_path), 0, BUCKETS) as out:
        out.write(table.to_batches()[0])
        raise RuntimeError("the parse failed")
    assert list(tmp_path.iterdir()) == []
    # the retry writes the file as if the first try never ran
    _write(tmp_path, 0, table)
    assert sum(t.num_rows for t in _read(tmp_path, [0, 1, 2], 1).values()) == 1000


def test_a_task_with_no_buckets_reads_nothing(tmp_path):
    assert _read(tmp_path, [], n_files=5) == {}
