"""``streamscore train --engine spark``: the training inputs stay in Spark.

The serving feature pipeline is fitted on Spark (activity events of the training users, each
entity's events in one task in time order, exact partial statistics merged: the local fit's
normalisers when each entity's events are in time order in the files), and the labelled sets
come from :func:`streams.spark.join.labelled_set_spark`. Only the labelled rows reach the
driver, where the model trains as it does locally.
"""

from __future__ import annotations

import json
import pickle
from functools import partial
from typing import TYPE_CHECKING

from schemas.events import EVENT_SCHEMA, SourceFormat
from streams.spark import _tasks
from streams.spark.etl import spark_schema

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["fit_serving_pipeline", "spark_builder"]


def fit_serving_pipeline(spark: SparkSession, events: DataFrame, *, holdout: float = 0.0,
                         seed: int = 0, partitions: int | None = None):  # fmt: skip
    """:func:`models.training.fit_pipeline` on Spark: the serving spec fitted on the activity
    events of the entities :func:`~models.dataset.held_out` keeps for training (the same
    salted CRC32 of the entity id, computed by Spark)."""
    from pyspark.sql import functions as F

    from streams.features import FeaturePipeline, default_spec

    kept = events.filter(F.col("source") == SourceFormat.ACTIVITY.value)
    if holdout > 0:
        salted = F.concat(F.lit(f"{seed}:"), F.col("entity")).cast("binary")
        kept = kept.filter(F.crc32(salted) >= int(holdout * 2**32))
    parts = partitions or 2 * spark.sparkContext.defaultParallelism
    located = kept.select(*EVENT_SCHEMA.names, F.input_file_name().alias("_src"),
                          F.monotonically_increasing_id().alias("_pos"))  # fmt: skip
    ordered = located.repartition(parts, "entity").sortWithinPartitions("ts_ms", "_src", "_pos")
    spec = default_spec("serving")
    spec_json = json.dumps(spec.model_dump(mode="json"))
    task = partial(_tasks.fit_task, spec_json=spec_json, target="cpu")
    found = ordered.mapInArrow(task, spark_schema(_tasks.FIT_SCHEMA)).collect()
    return FeaturePipeline(spec).fit_parts([pickle.loads(r["part"]) for r in found])


def spark_builder(spark: SparkSession, partitions: int | None = None):
    """A ``build`` for :func:`models.training.train_task` that joins on Spark."""
    from streams.spark.join import labelled_set_spark

    def build(
        fitted, events, labels, *, task=None, progress=False, samples_per_label=0, seed=0
    ):  # build_labelled_set's signature; progress is local only
        return labelled_set_spark(spark, fitted, events, labels, task=task,
                                  samples_per_label=samples_per_label, seed=seed,
                                  partitions=partitions)  # fmt: skip

    return build
