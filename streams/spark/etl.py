"""``streamscore etl --engine spark``: the offline ETL job on Apache Spark, same code as local.

1. List the inputs on the driver (local files and folders directly; other URIs, ``s3a://``,
   ``hdfs://``..., through Spark's ``binaryFile`` source, which also reads their bytes). Each
   file is read whole, in one task, by :func:`~streams.etl.files.read_file` (the local
   engine's reader): the same events, and rejections with the same origins and reasons.
2. Write the events (``events.parquet/``, a folder of part files in input order) and the
   rejections (``rejected.jsonl/`` or ``rejected.parquet/``), and collect the counts per file.
3. Features, per spec (as the local engine picks them): repartition the events by entity,
   sort each partition by ``(ts_ms, file, row)`` (the local engine's stable time order), so
   every entity's events reach one task in time order; the task carries one window state
   through its batches as a stream worker does between micro-batches. Fitting runs one task
   per partition and merges the exact partial statistics on the driver (bit for bit the
   local fit); a second pass writes ``features[-NAME].parquet/`` and the driver saves
   ``pipeline[-NAME].json``.

Feature files are Parquet folders whose part files each task writes itself with pyarrow, in
the local engine's schema (``event_id, entity, ts_ms, features``: fixed-size float32 lists,
the names and fingerprint in the metadata), so no feature value goes through the JVM. Remote
``--out`` paths for them go through pyarrow's filesystems (``s3a://`` is read as ``s3://``,
``hdfs://`` needs libhdfs), the rest through Spark's writers.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import pyarrow as pa

from schemas.deadletter import DeadLetterStage
from schemas.events import EVENT_SCHEMA, SourceFormat
from streams.etl.errors import InputFormatError
from streams.etl.job import EtlCounts, EtlResult, RejectedFormat, spec_documents
from streams.etl.types import FileOrigin, ParseOptions, Rejected
from streams.spark import _tasks
from streams.spark.session import spark_session

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "parse_and_write",
    "parsed_inputs",
    "run_etl_spark",
    "spark_schema",
    "time_partitioned",
    "write_text",
]


def spark_schema(schema: pa.Schema) -> str:
    """A Spark DDL string for an Arrow schema of the types our tasks exchange."""
    names = {pa.string(): "string", pa.int64(): "bigint", pa.int32(): "int",
             pa.int8(): "tinyint", pa.binary(): "binary", pa.float32(): "float",
             pa.float64(): "double", pa.bool_(): "boolean",
             pa.list_(pa.float32()): "array<float>"}  # fmt: skip
    return ", ".join(f"`{f.name}` {names[f.type]}" for f in schema)


def _is_local(uri: str) -> bool:
    return urlparse(uri).scheme in ("", "file") or len(urlparse(uri).scheme) == 1  # C:\


def _local_rows(index: int, arg: str) -> list[dict]:
    path = Path(arg[5:] if arg.startswith("file:") else arg)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*")
                       if p.is_file() and not p.name.startswith((".", "_")))  # fmt: skip
    else:
        files = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).is_file())
    if not files:
        raise InputFormatError(f"etl input {arg!r}: expected a readable file, folder or glob, "
                               "found nothing")  # fmt: skip
    return [{"path": str(f.resolve()), "name": str(f), "mtime_ms": int(f.stat().st_mtime * 1000),
             "content": None, "arg": index} for f in files]  # fmt: skip


def _remote_rows(spark: SparkSession, index: int, arg: str) -> list[dict]:
    found = spark.read.format("binaryFile").load(arg).select("path", "modificationTime")
    listed = found.orderBy("path").collect()
    if not listed:
        raise InputFormatError(f"etl input {arg!r}: expected files, Spark found none")
    return [
        {"path": r["path"], "name": r["path"], "arg": index, "content": None,
         "mtime_ms": int(r["modificationTime"].timestamp() * 1000)}
        for r in listed
    ]  # fmt: skip


def _files(spark: SparkSession, inputs: Sequence[str]) -> tuple[DataFrame, list[str]]:
    """The input files, one per partition (local ones), with their index and origin name."""
    from pyspark.sql import functions as F

    rows: list[dict] = []
    for i, arg in enumerate(inputs):
        rows += _local_rows(i, arg) if _is_local(arg) else _remote_rows(spark, i, arg)
    for k, row in enumerate(rows):
        row["file"] = k
    names = [r["name"] for r in rows]
    ddl = spark_schema(_tasks.FILE_SCHEMA)
    local = [{k: r[k] for k in _tasks.FILE_SCHEMA.names} for r in rows if _is_local(r["path"])]
    remote = [r for r in rows if not _is_local(r["path"])]
    df = None
    if local:
        rdd = spark.sparkContext.parallelize(
            [tuple(r.values()) for r in local], numSlices=len(local)
        )
        df = spark.createDataFrame(rdd, ddl)
    if remote:
        index = spark.createDataFrame([(r["path"], r["file"]) for r in remote],
                                      "path string, file int")  # fmt: skip
        content = (spark.read.format("binaryFile").load([r["path"] for r in remote])
                   .select("path", "content", "modificationTime"))  # fmt: skip
        far = content.join(F.broadcast(index), "path").select(
            F.col("file"), F.lit(None).cast("string").alias("path"), F.col("path").alias("name"),
            (F.unix_millis(F.col("modificationTime"))).alias("mtime_ms"), F.col("content"),
        )  # fmt: skip
        df = far if df is None else df.unionByName(far)
    assert df is not None
    return df, names


def parsed_inputs(
    spark: SparkSession,
    inputs: Sequence[str],
    *,
    fmt: str = "auto",
    kind: str = "auto",
    options: ParseOptions | None = None,
    chunk_size: int = 65_536,
    as_json: bool = True,
) -> tuple[DataFrame, list[str]]:
    """Every input parsed in Spark tasks: a DataFrame of :data:`_tasks.PARSED_SCHEMA` rows
    (persisted: callers read it several times) and the files' origin names by index."""
    from pyspark import StorageLevel

    files, names = _files(spark, inputs)
    task = partial(_tasks.parse_task, fmt=str(fmt), kind=kind, options=options or ParseOptions(),
                   chunk_size=chunk_size, as_json=as_json)  # fmt: skip
    parsed = files.mapInArrow(task, spark_schema(_tasks.PARSED_SCHEMA))
    return parsed.persist(StorageLevel.MEMORY_AND_DISK), names


def time_partitioned(events: DataFrame, partitions: int) -> DataFrame:
    """Every entity's events in one partition, each partition in the local engine's order."""
    return events.repartition(partitions, "entity").sortWithinPartitions("ts_ms", "_file", "_row")


def write_text(spark: SparkSession, uri: str, text: str) -> None:
    """Write one small text file at any path Spark can write (local, s3a://, hdfs://)."""
    if _is_local(uri):
        Path(uri).write_text(text)
        return
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    stream = fs.create(path, True)
    try:
        stream.write(bytearray(text.encode()))
    finally:
        stream.close()


def _clear(spark: SparkSession, uri: str) -> None:
    """Remove a folder (or file) an earlier run left, at any path Spark can write."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri if not _is_local(uri) else str(Path(uri).resolve()))
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if fs.exists(path):
        fs.delete(path, True)


def _join(out: str, name: str) -> str:
    return str(Path(out) / name) if _is_local(out) else out.rstrip("/") + "/" + name


def _first_rejected(parsed: DataFrame, names: list[str]) -> list[Rejected]:
    first = parsed.filter("_kind = 1").orderBy("_file", "_row").limit(3)
    rows = first.select("_file", "_row", "rej_raw", "rej_stage", "rej_reason", "rej_error")
    return [
        Rejected(bytes(r["rej_raw"]), FileOrigin(names[r["_file"]], r["_row"]),
                 DeadLetterStage.from_label(r["rej_stage"]), r["rej_reason"], r["rej_error"])
        for r in rows.collect()
    ]  # fmt: skip


def _fitted(spark: SparkSession, ordered: DataFrame, spec_doc: dict, target: str):
    import pickle

    from streams.features import FeaturePipeline, FeatureSpec

    if "fingerprint" in spec_doc:  # already fitted
        return _tasks.fitted_from_doc(spec_doc, target)
    spec_json = json.dumps(spec_doc)
    task = partial(_tasks.fit_task, spec_json=spec_json, target=target)
    parts = [pickle.loads(r["part"]) for r in
             ordered.mapInArrow(task, spark_schema(_tasks.FIT_SCHEMA)).collect()]  # fmt: skip
    return FeaturePipeline(FeatureSpec.from_json(spec_json), target).fit_parts(parts)


def run_etl_spark(
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    fmt: str = "auto",
    kind: str = "auto",
    spec_path: str | os.PathLike[str] | None = None,
    options: ParseOptions | None = None,
    rejected_format: RejectedFormat = "jsonl",
    features: bool = True,
    kernel_target: str = "cpu",
    chunk_size: int = 65_536,
    master: str | None = None,
    conf: Mapping[str, str] | None = None,
    partitions: int | None = None,
) -> EtlResult:
    """Run the ETL on Spark (see the module docstring); returns counts and output paths.

    ``partitions``: entity partitions for the features (default: twice Spark's default
    parallelism). Raises ``InputFormatError`` for missing inputs or an unusable spec and
    :class:`~streams.errors.SparkSetupError` when Spark cannot start.
    """

    if rejected_format not in ("jsonl", "parquet"):
        raise InputFormatError(
            f"rejected format: expected jsonl or parquet, got {rejected_format!r}"
        )
    spec = Path(spec_path) if spec_path is not None else None
    if spec is not None and not spec.is_file():
        raise InputFormatError(f"feature spec: expected a JSON file, got missing {str(spec)!r}")
    out = str(out_dir)
    if _is_local(out):
        Path(out).mkdir(parents=True, exist_ok=True)
    spark = spark_session(master, conf, app="streamscore etl")
    parsed, events, result = parse_and_write(spark, [str(p) for p in inputs], out, fmt=fmt,
                                             kind=kind, options=options, chunk_size=chunk_size,
                                             rejected_format=rejected_format)  # fmt: skip
    try:
        if features and result.total.events:
            _features(spark, events, out, spec, kernel_target, partitions, result)
    finally:
        parsed.unpersist()
    return result


def parse_and_write(
    spark: SparkSession,
    inputs: Sequence[str],
    out: str,
    *,
    fmt: str,
    kind: str,
    options: ParseOptions | None,
    chunk_size: int,
    rejected_format: RejectedFormat,
) -> tuple[DataFrame, DataFrame, EtlResult]:
    """Steps 1 and 2: parse the inputs, write events and rejections, count per file.

    Returns the persisted parse (unpersist it when done), its events (with the ``_file`` and
    ``_row`` order columns) and the result so far.
    """
    from pyspark.sql import functions as F

    parsed, names = parsed_inputs(spark, inputs, fmt=fmt, kind=kind, options=options,
                                  chunk_size=chunk_size,
                                  as_json=rejected_format == "jsonl")  # fmt: skip
    result = EtlResult()
    events = parsed.filter(F.col("_kind") == _tasks.KIND_EVENT).select(
        *EVENT_SCHEMA.names, "_file", "_row"
    )
    events_path = _join(out, "events.parquet")
    events.select(*EVENT_SCHEMA.names).write.mode("overwrite").parquet(events_path)
    rejected_path = _join(out, f"rejected.{rejected_format}")
    rejected = parsed.filter(F.col("_kind") == _tasks.KIND_REJECTED).orderBy("_file", "_row")
    if rejected_format == "jsonl":
        rejected.select("rej_json").write.mode("overwrite").text(rejected_path)
    else:
        names_ = ("origin", "stage", "error", "reason", "raw")
        columns = [F.col(f"rej_{c}").alias(c) for c in names_]
        rejected.select(*columns).write.mode("overwrite").parquet(rejected_path)
    result.outputs["events"] = Path(events_path)
    result.outputs["rejected"] = Path(rejected_path)
    counted = parsed.filter(F.col("_kind") == _tasks.KIND_COUNTS).select(
        "_file", "n_read", "n_parsed", "n_events", "n_rejected"
    )
    counts = {r["_file"]: r for r in counted.collect()}
    for k, name in enumerate(names):
        c = counts[k]
        per = result.per_file.setdefault(name, EtlCounts())
        for target in (per, result.total):
            target.add(c["n_read"], c["n_parsed"], c["n_events"], c["n_rejected"])
    result.first_rejected = _first_rejected(parsed, names)
    return parsed, events, result


def _prefiltered(events: DataFrame, doc: dict) -> DataFrame:
    """Apply the spec's leading ``keep`` filters in the JVM too, so the events a spec drops
    are not shipped to its Python tasks (which apply the same filters again)."""
    from pyspark.sql import functions as F

    for step in (doc["spec"] if "fingerprint" in doc else doc)["steps"]:
        if step.get("op") != "filter" or step.get("keep") is None:
            break
        events = events.filter(F.col(step["column"]).cast("string").isin(list(step["keep"])))
    return events


def _features(spark: SparkSession, events: DataFrame, out: str, spec: Path | None, target: str,
              partitions: int | None, result: EtlResult) -> None:  # fmt: skip
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    n_activity = events.filter(F.col("source") == SourceFormat.ACTIVITY.value).count()
    docs = spec_documents(spec, n_activity, result.total.events)
    parts = partitions or 2 * spark.sparkContext.defaultParallelism
    ordered = time_partitioned(events, parts)
    ordered = ordered.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        for suffix, doc in docs:
            kept = _prefiltered(ordered, doc)
            fitted = _fitted(spark, kept, doc, target)
            described = fitted.describe()
            pipeline_path = _join(out, f"pipeline{suffix}.json")
            write_text(spark, pipeline_path, json.dumps(described, indent=1, allow_nan=False)
                       + "\n")  # fmt: skip
            result.outputs[f"pipeline{suffix}"] = Path(pipeline_path)
            feat_path = _join(out, f"features{suffix}.parquet")
            _clear(spark, feat_path)
            task = partial(_tasks.featurise_task, pipeline_doc=described, target=target,
                           out_dir=feat_path)  # fmt: skip
            written = kept.mapInArrow(task, spark_schema(_tasks.WRITTEN_SCHEMA)).collect()
            result.outputs[f"features{suffix}"] = Path(feat_path)
            result.feature_rows[f"features{suffix}"] = sum(r["rows"] for r in written)
    finally:
        ordered.unpersist()
