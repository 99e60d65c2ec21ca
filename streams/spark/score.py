"""``streamscore score --engine spark``: backfill scoring on Spark, the local job's steps.

Parse and write events and rejections as ``etl --engine spark`` does, repartition the events
by entity and sort each partition by time (the local engine's order), then each task loads
the champions once (:func:`~streams.scoring.load_model_set`: LiteRT or tf.function,
as the worker chooses) and scores its whole Arrow batches with
:func:`~streams.pipeline.backfill.score_batches` (each model on the events of the entity kinds
it scores, as the local engine and the workers do). The registry must be readable by every
executor (local mode: it is; a cluster: a shared path in ``STREAMSCORE_STATE_DIR``).
"""

from __future__ import annotations

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
from streams.spark.etl import _join, parse_and_write, spark_schema, time_partitioned
from streams.spark.session import spark_session

if TYPE_CHECKING:
    from streams.settings import Settings

__all__ = ["run_score_spark", "score_task"]


def score_task(batches: Iterator[pa.RecordBatch], *, settings: Settings,
               tasks: Sequence[str] | None, version: str | None,
               scored_ms: int) -> Iterator[pa.RecordBatch]:  # fmt: skip
    """One partition's events (every entity's here, in time order) -> score rows."""
    from streams.pipeline.backfill import score_batches
    from streams.scoring import load_model_set
    from streams.spark._tasks import _event_batches, one_core

    one_core()
    models = load_model_set(settings, tasks, version)  # once per task
    for table in score_batches(models, _event_batches(batches), scored_ms):
        yield from table.to_batches()


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
    ``OUT/scores.parquet/`` (a folder of part files) beside the events and rejections."""
    from pyspark.sql import functions as F

    from streams.scoring import load_model_set

    check_version(settings, tasks, version)
    load_model_set(settings, tasks, version)  # fail on the driver, not in every task
    scored_ms = time.time_ns() // 1_000_000
    out = str(out_dir)
    if "://" not in out:
        Path(out).mkdir(parents=True, exist_ok=True)
    spark = spark_session(master, conf, app="streamscore score")
    parsed, events, etl = parse_and_write(spark, [str(p) for p in inputs], out, fmt=fmt,
                                          kind=kind, options=options, chunk_size=chunk_size,
                                          rejected_format=rejected_format)  # fmt: skip
    result = BackfillResult(etl, outputs=dict(etl.outputs))
    try:
        parts = partitions or 2 * spark.sparkContext.defaultParallelism
        task = partial(score_task, settings=settings, tasks=tasks, version=version,
                       scored_ms=scored_ms)  # fmt: skip
        scores = time_partitioned(events, parts).mapInArrow(task, spark_schema(SCORE_SCHEMA))
        scores_path = _join(out, "scores.parquet")
        scores.write.mode("overwrite").parquet(scores_path)
        written = spark.read.parquet(scores_path).groupBy("model_name").agg(F.count("*"))
        result.rows = {r[0]: r[1] for r in written.collect()}
        result.outputs["scores"] = Path(scores_path)
    finally:
        parsed.unpersist()
    return result
