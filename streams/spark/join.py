"""Training sets at scale: the point-in-time join of features and delayed labels on Spark.

The no-leakage rule is :func:`models.dataset.build_labelled_set`'s, and so is the code: the
events and the labels are repartitioned together by entity, each partition's events are put
in time order (ties in file order), and each task calls ``build_labelled_set`` on its own
entities. A label's row is the features right after the entity's last event strictly before
its decision time, computed with a window state that has seen exactly that entity's earlier
events; state is per entity, so a partition gives its entities' rows exactly as one process
would. Rows come back ordered by (decision time, entity); the local set is in label order.

With ``samples_per_label > 0`` each task draws its own sampled rows (seeded by the seed and
the partition), so those differ from a local draw while following the same rule; the as-of
rows are identical.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from schemas.events import EVENT_SCHEMA
from streams.spark._tasks import fitted_from_doc

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from models.dataset import LabelledSet

__all__ = ["labelled_set_spark", "read_events_labels"]

_LABEL_COLUMNS = ("task", "entity", "decision_ts_ms", "label_ts_ms", "label", "true_p")
_OUT = pa.schema([("part", pa.binary())])


def _join_task(batches: Iterator[pa.RecordBatch], *, pipeline_doc: dict, target: str,
               samples_per_label: int, sample_window_ms: int,
               seed: int) -> Iterator[pa.RecordBatch]:  # fmt: skip
    from pyspark import TaskContext

    from models.dataset import build_labelled_set

    table = pa.Table.from_batches(list(batches))
    if not table.num_rows:
        return
    is_label = table.column("_is_label").to_numpy(zero_copy_only=False)
    events = table.filter(pa.array(~is_label)).select(EVENT_SCHEMA.names)
    labels = table.filter(pa.array(is_label))
    labels = pa.table({c: labels.column(f"lab_{c}") for c in _LABEL_COLUMNS})
    if not labels.num_rows:
        return
    context = TaskContext.get()
    part_seed = seed * 100_003 + (context.partitionId() if context else 0)
    fitted = fitted_from_doc(pipeline_doc, target)
    found = build_labelled_set(fitted, events, labels, samples_per_label=samples_per_label,
                               sample_window_ms=sample_window_ms, seed=part_seed)  # fmt: skip
    yield pa.RecordBatch.from_arrays([pa.array([pickle.dumps(found)], pa.binary())], schema=_OUT)


def labelled_set_spark(
    spark: SparkSession,
    fitted,  # a FittedPipeline
    events: DataFrame,
    labels: DataFrame,
    *,
    task: str | None = None,
    samples_per_label: int = 0,
    sample_window_ms: int = 7 * 86_400_000,
    seed: int = 0,
    partitions: int | None = None,
) -> LabelledSet:
    """:func:`models.dataset.build_labelled_set` over Spark DataFrames (see the module
    docstring). ``events``: the event schema's columns; ``labels``: ``LABEL_SCHEMA``'s.
    Raises ``ModelError`` when there is no label for ``task``."""
    from pyspark.sql import functions as F

    from models.errors import ModelError

    if task is not None:
        labels = labels.filter(F.col("task") == task)
    parts = partitions or 2 * spark.sparkContext.defaultParallelism
    ev = events.select(
        *EVENT_SCHEMA.names, F.lit(False).alias("_is_label"),
        F.input_file_name().alias("_src"), F.monotonically_increasing_id().alias("_pos"),
        *[F.lit(None).alias(f"lab_{c}") for c in _LABEL_COLUMNS],
    )  # fmt: skip
    lab = labels.select(
        *[F.lit(None).cast(_ddl(f.type)).alias(f.name)
          for f in EVENT_SCHEMA if f.name != "entity"],
        F.col("entity"), F.lit(True).alias("_is_label"), F.lit(None).cast("string").alias("_src"),
        F.lit(None).cast("bigint").alias("_pos"),
        *[F.col(c).alias(f"lab_{c}") for c in _LABEL_COLUMNS],
    )  # fmt: skip
    both = ev.unionByName(lab.select(*ev.columns), allowMissingColumns=False)
    ordered = both.repartition(parts, "entity").sortWithinPartitions(
        "_is_label", "ts_ms", "_src", "_pos"
    )
    task_fn = partial(_join_task, pipeline_doc=fitted.describe(), target=fitted.target,
                      samples_per_label=samples_per_label, sample_window_ms=sample_window_ms,
                      seed=seed)  # fmt: skip
    found = [pickle.loads(r["part"]) for r in ordered.mapInArrow(task_fn, "part binary").collect()]
    found = [f for f in found if len(f)]
    if not found:
        raise ModelError(f"building a labelled set on Spark: expected labels for task {task!r}, "
                         "found none with events before their decision")  # fmt: skip
    return _merge(found, samples_per_label, fitted)


def _ddl(t: pa.DataType) -> str:
    return {pa.string(): "string", pa.int64(): "bigint", pa.int32(): "int",
            pa.int8(): "tinyint"}[t]  # fmt: skip


def _merge(found: list, k: int, fitted) -> LabelledSet:
    """Concatenate per-partition sets: as-of rows by (decision time, entity), then each
    block of sampled rows in the same label order (the layout build_labelled_set uses)."""
    from models.dataset import LabelledSet

    blocks = k + 1
    per = [len(f) // blocks for f in found]
    n = sum(per)
    entity = np.concatenate([f.entity[:m] for f, m in zip(found, per, strict=True)])
    decision = np.concatenate([f.decision_ts_ms[:m] for f, m in zip(found, per, strict=True)])
    order = np.lexsort((entity.astype(str), decision))

    def stack(attr: str) -> np.ndarray:
        out = []
        for j in range(blocks):
            out.append(
                np.concatenate(
                    [getattr(f, attr)[j * m : (j + 1) * m] for f, m in zip(found, per, strict=True)]
                )[order]
            )
        return np.concatenate(out)

    return LabelledSet(
        X=stack("X"), y=stack("y"), true_p=stack("true_p"), entity=stack("entity"),
        decision_ts_ms=stack("decision_ts_ms"), names=tuple(fitted.names),
        fingerprint=fitted.fingerprint, dropped=sum(f.dropped for f in found),
    ) if n else LabelledSet(np.zeros((0, len(fitted.names)), np.float32), np.zeros(0, np.int8),
                            np.zeros(0), np.zeros(0, object), np.zeros(0, np.int64),
                            tuple(fitted.names), fitted.fingerprint, 0)  # fmt: skip


def read_events_labels(spark: SparkSession, folder: str) -> tuple[DataFrame, DataFrame]:
    """``events.parquet`` and ``labels.parquet`` (files or Spark folders) under ``folder``."""
    base = folder.rstrip("/")
    return (spark.read.parquet(f"{base}/events.parquet"),
            spark.read.parquet(f"{base}/labels.parquet"))  # fmt: skip
