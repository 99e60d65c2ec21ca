"""``streamscore score --engine spark``: backfill scoring on Spark, the local job's steps.

Parse and write events and rejections as ``etl --engine spark`` does, with the events split
into buckets in exchange files (every entity's events in one bucket, read in the local
engine's order by one task per bucket: see :mod:`streams.spark._tasks`), then each task
loads the champions once (:func:`~streams.scoring.load_model_set`: LiteRT or tf.function, as
the worker chooses), scores its events in the local engine's chunks with
:func:`~streams.pipeline.backfill.score_batches` (each model on the events of the entity kinds
it scores, as the local engine and the workers do) and writes them to
``scores.parquet/part-NNNNN.parquet`` itself. The registry must be readable by every
executor (local mode: it is; a cluster: a shared path in ``STREAMSCORE_STATE_DIR``).
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from streams.etl.job import RejectedFormat
from streams.etl.types import ParseOptions
from streams.pipeline.backfill import SCORE_SCHEMA, BackfillResult, check_version
from streams.spark.etl import _clear, _join, by_bucket, parse_and_write, spark_schema
from streams.spark.session import spark_session

if TYPE_CHECKING:
    from streams.settings import Settings

__all__ = ["SCORED_SCHEMA", "run_score_spark", "score_task"]

SCORED_SCHEMA = pa.schema([("model_name", pa.string()), ("rows", pa.int64())])


def score_task(batches: Iterator[pa.RecordBatch], *, settings: Settings,
               tasks: Sequence[str] | None, version: str | None, scored_ms: int,
               out_dir: str, exchange_dir: str,
               n_files: int) -> Iterator[pa.RecordBatch]:  # fmt: skip
    """A task's buckets (:data:`~streams.spark._tasks.BUCKET_SCHEMA` rows, their events read
    by :func:`~streams.spark._tasks.bucket_tables`) -> score rows in
    ``OUT_DIR/part-NNNNN.parquet``; returns the rows written per model."""
    from streams.pipeline.backfill import score_batches
    from streams.scoring import load_model_set
    from streams.spark._tasks import PartFile, bucket_tables, event_chunks, partition_id, start_task

    start_task()
    models = load_model_set(settings, tasks, version)  # once per task
    gc.freeze()  # TensorFlow's objects, which the model set imported (see start_task)
    rows: dict[str, int] = {}
    with PartFile(out_dir, f"part-{partition_id():05d}", schema=SCORE_SCHEMA) as out:
        for _, table in bucket_tables(batches, exchange_dir=exchange_dir, n_files=n_files):
            for scored in score_batches(models, event_chunks(table), scored_ms):
                out.write(scored)
                name = scored.column("model_name")[0].as_py()
                rows[name] = rows.get(name, 0) + scored.num_rows
    yield pa.RecordBatch.from_arrays(
        [pa.array(list(rows), pa.string()), pa.array(list(rows.values()), pa.int64())],
        schema=SCORED_SCHEMA,
    )


def run_score_spark(
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    settings: Settings,
    *,
    tasks: Sequence[str] | None = None,
    version: str | None = None,
    fmt: str = "auto",
    kind: str = "auto",
    options: ParseOptions | None = None,
    rejected_format: RejectedFormat = "jsonl",
    chunk_size: int = 65_536,
    master: str | None = None,
    conf: Mapping[str, str] | None = None,
    partitions: int | None = None,
) -> BackfillResult:
    """Score files with the registry's champions (or ``version``) on Spark; writes
    ``OUT/scores.parquet/`` (a folder of part files) beside the events and rejections.
    ``partitions``: buckets, i.e. scoring tasks (default as :func:`run_etl_spark`)."""
    from streams.scoring import load_model_set

    check_version(settings, tasks, version)
    load_model_set(settings, tasks, version)  # fail on the driver, not in every task
    scored_ms = time.time_ns() // 1_000_000
    out = str(out_dir)
    if "://" not in out:
        Path(out).mkdir(parents=True, exist_ok=True)
    spark = spark_session(master, conf, app="streamscore score")
    parsed = parse_and_write(spark, [str(p) for p in inputs], out, fmt=fmt, kind=kind,
                             options=options, chunk_size=chunk_size,
                             rejected_format=rejected_format, partitions=partitions)  # fmt: skip
    result = BackfillResult(parsed.result, outputs=dict(parsed.result.outputs))
    try:
        scores_path = _join(out, "scores.parquet")
        _clear(spark, scores_path)
        task = partial(score_task, settings=settings, tasks=tasks, version=version,
                       scored_ms=scored_ms, out_dir=scores_path, exchange_dir=parsed.exchange,
                       n_files=parsed.n_files)  # fmt: skip
        scored = by_bucket(spark, parsed.buckets).mapInArrow(task, spark_schema(SCORED_SCHEMA))
        for row in scored.collect():
            result.rows[row["model_name"]] = result.rows.get(row["model_name"], 0) + row["rows"]
        result.outputs["scores"] = Path(scores_path)
    finally:
        parsed.close(spark)
    return result
