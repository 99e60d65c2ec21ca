"""``streamscore etl --engine spark``: the offline ETL job on Apache Spark, same code as local.

1. List the inputs on the driver (local files and folders directly; other URIs, ``s3a://``,
   ``hdfs://``..., through Spark's ``binaryFile`` source, which also reads their bytes). Each
   file is read whole, in one task, by :func:`~streams.etl.files.read_file` (the local
   engine's reader): the same events, and rejections with the same origins and reasons.
   The task writes the file's events to ``events.parquet/part-NNNNN.parquet`` (NNNNN: the
   file's index, so the parts are in input order) and, split by bucket (an entity's bucket:
   Kafka's murmur2 partition of its id, one bucket per feature task), to an exchange file in
   ``_exchange/`` (see :mod:`streams.spark._tasks`); it hands Spark the rejections and the
   counts.
2. Collect the counts per file and each file's first rejections (one job, which runs the
   parse) and write the rejections (``rejected.jsonl/`` or ``rejected.parquet/``) in input
   order: with local inputs partition ``k`` is file ``k``, its rejections in order, so they are
   written as they stand, one part per file; remote ones are sorted by file and line first.
3. Features, per spec (as the local engine picks them): one task per bucket reads the
   bucket's events from the exchange files, puts them in the local engine's order
   (``ts_ms``, then input file, then position: the files' batches in input order, then a
   stable sort on time) and carries one window state through them as a stream worker does
   between micro-batches. Fitting runs one task per bucket and merges the exact partial
   statistics on the driver (bit for bit the local fit); a second pass writes
   ``features[-NAME].parquet/`` and the driver saves ``pipeline[-NAME].json``. The exchange
   folder is removed at the end.

Event and feature files are Parquet folders whose part files each task writes itself with
pyarrow, in the local engine's schemas, so no event or feature value goes through the JVM.
Remote ``--out`` paths for them and the exchange go through pyarrow's filesystems
(``s3a://`` is read as ``s3://``, ``hdfs://`` needs libhdfs), the rejections through Spark's
writers. A feature task holds its bucket's events in memory: the default number of buckets
grows with the input (one per :data:`BUCKET_INPUT_BYTES` of input files, at least two per
core).
"""

from __future__ import annotations

import glob
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import pyarrow as pa

from schemas.deadletter import DeadLetterStage
from streams.etl.errors import InputFormatError
from streams.etl.job import EtlCounts, EtlResult, RejectedFormat, spec_documents
from streams.etl.types import FileOrigin, ParseOptions, Rejected
from streams.spark import _tasks
from streams.spark.session import spark_session

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "BUCKET_INPUT_BYTES",
    "EXCHANGE",
    "Parsed",
    "by_bucket",
    "parse_and_write",
    "parsed_inputs",
    "run_etl_spark",
    "spark_schema",
    "write_text",
]

BUCKET_INPUT_BYTES = 128 << 20
"""Input bytes per bucket (feature or scoring task) when the caller gives no ``partitions``:
a task holds its bucket's events in memory, so a larger history gets more buckets."""

EXCHANGE = "_exchange"
"""The folder of ``--out`` where parse tasks leave each file's events split by bucket for the
bucket tasks (:class:`~streams.spark._tasks.BucketedEvents`); removed when the job ends. On a
cluster ``--out`` is a store every executor reads (``s3a://``, ``hdfs://``), as it must be for
the part files the tasks write."""


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
             "content": None, "arg": index, "size": f.stat().st_size} for f in files]  # fmt: skip


def _remote_rows(spark: SparkSession, index: int, arg: str) -> list[dict]:
    found = spark.read.format("binaryFile").load(arg).select("path", "modificationTime", "length")
    listed = found.orderBy("path").collect()
    if not listed:
        raise InputFormatError(f"etl input {arg!r}: expected files, Spark found none")
    return [
        {"path": r["path"], "name": r["path"], "arg": index, "content": None,
         "mtime_ms": int(r["modificationTime"].timestamp() * 1000), "size": r["length"]}
        for r in listed
    ]  # fmt: skip


def _files(spark: SparkSession, inputs: Sequence[str]) -> tuple[DataFrame, list[str], int, bool]:
    """The input files, with their index and origin name; their total size in bytes; and
    whether partition ``k`` holds file ``k`` (so does every file's parse, in order), as when
    all inputs are local (Spark's ``binaryFile`` source packs remote files its own way)."""
    from pyspark.sql import functions as F

    rows: list[dict] = []
    for i, arg in enumerate(inputs):
        rows += _local_rows(i, arg) if _is_local(arg) else _remote_rows(spark, i, arg)
    for k, row in enumerate(rows):
        row["file"] = k
    names = [r["name"] for r in rows]
    local = [{k: r[k] for k in _tasks.FILE_SCHEMA.names} for r in rows if _is_local(r["path"])]
    remote = [r for r in rows if not _is_local(r["path"])]
    df = None
    if local:
        # From an Arrow table, the rows go to the JVM as Arrow (no Python worker runs for
        # them, as one does for an RDD of Python rows); file k's row to partition k.
        table = pa.Table.from_pylist(local, schema=_tasks.FILE_SCHEMA)
        df = spark.createDataFrame(table).repartitionById(len(local), "file")
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
    return df, names, sum(r["size"] for r in rows), not remote


def parsed_inputs(
    spark: SparkSession,
    inputs: Sequence[str],
    events_dir: str,
    exchange_dir: str,
    *,
    fmt: str = "auto",
    kind: str = "auto",
    options: ParseOptions | None = None,
    chunk_size: int = 65_536,
    as_json: bool = True,
    partitions: int | None = None,
) -> tuple[DataFrame, list[str], int, bool]:
    """Every input parsed in Spark tasks, its events written under ``events_dir`` and, by
    bucket, ``exchange_dir``: a DataFrame of :data:`_tasks.PARSED_SCHEMA` rows (persisted:
    callers read it several times), the files' origin names by index, the number of buckets
    (``partitions``, or one per :data:`BUCKET_INPUT_BYTES` of input and at least two per
    core), and whether partition ``k`` holds file ``k``'s rows (see :func:`_files`)."""
    from pyspark import StorageLevel

    files, names, size, by_file = _files(spark, inputs)
    buckets = partitions or max(2 * spark.sparkContext.defaultParallelism,
                                math.ceil(size / BUCKET_INPUT_BYTES))  # fmt: skip
    task = partial(_tasks.parse_task, fmt=str(fmt), kind=kind, options=options or ParseOptions(),
                   chunk_size=chunk_size, as_json=as_json, events_dir=events_dir,
                   exchange_dir=exchange_dir, buckets=buckets)  # fmt: skip
    parsed = files.mapInArrow(task, spark_schema(_tasks.PARSED_SCHEMA))
    return parsed.persist(StorageLevel.MEMORY_AND_DISK), names, buckets, by_file


def by_bucket(spark: SparkSession, buckets: int) -> DataFrame:
    """The bucket numbers (:data:`_tasks.BUCKET_SCHEMA`), bucket ``b`` in partition ``b``:
    one bucket task each, which reads the bucket's events (:func:`_tasks.bucket_tables`)."""
    numbers = pa.table({"bucket": pa.array(range(buckets), pa.int32())})
    return spark.createDataFrame(numbers).repartitionById(buckets, "bucket")


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


def _first_rejected(rows: list, names: list[str]) -> list[Rejected]:
    """The first 3 rejections of the job (files in input order), as the local engine keeps
    them, from each file's first 3 (:data:`_tasks.FIRST_REJECTED` rows)."""
    first = sorted(rows, key=lambda r: (r["_file"], r["n_rejected"]))[:3]
    return [
        Rejected(bytes(r["rej_raw"]), FileOrigin(names[r["_file"]], r["_row"]),
                 DeadLetterStage.from_label(r["rej_stage"]), r["rej_reason"], r["rej_error"])
        for r in first
    ]  # fmt: skip


def _fitted(buckets: DataFrame, docs: list[dict], target: str, exchange: dict) -> list:
    """A :class:`FittedPipeline` per spec document: fitted ones as they are, the others fitted
    in one pass over the buckets (a partial fit per bucket, merged exactly on the driver)."""
    import pickle

    from streams.features import FeaturePipeline, FeatureSpec

    todo = [k for k, doc in enumerate(docs) if "fingerprint" not in doc]
    specs = [json.dumps(docs[k]) for k in todo]
    parts: dict[int, list] = {k: [] for k in todo}
    if todo:
        task = partial(_tasks.fit_bucket_task, spec_jsons=specs, target=target, **exchange)
        for row in buckets.mapInArrow(task, spark_schema(_tasks.BUCKET_FIT_SCHEMA)).collect():
            parts[todo[row["spec"]]].append(pickle.loads(row["part"]))
    return [
        FeaturePipeline(FeatureSpec.from_json(json.dumps(doc)), target).fit_parts(parts[k])
        if k in parts
        else _tasks.fitted_from_doc(doc, target)
        for k, doc in enumerate(docs)
    ]


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

    ``partitions``: buckets, i.e. feature tasks (default: one per
    :data:`BUCKET_INPUT_BYTES` of input, at least twice Spark's default parallelism). Raises
    ``InputFormatError`` for missing inputs or an unusable spec and
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
    parsed = parse_and_write(spark, [str(p) for p in inputs], out, fmt=fmt, kind=kind,
                             options=options, chunk_size=chunk_size,
                             rejected_format=rejected_format, partitions=partitions)  # fmt: skip
    try:
        if features and parsed.result.total.events:
            _features(spark, parsed, out, spec, kernel_target)
    finally:
        parsed.close(spark)
    return parsed.result


@dataclass(slots=True)
class Parsed:
    """What :func:`parse_and_write` leaves: the persisted parse (:data:`_tasks.PARSED_SCHEMA`),
    its number of buckets, the exchange folder that holds the events by bucket and the number
    of input files in it, the counts so far, and how many events are activity (the local
    engine's spec choice needs it). :meth:`close` it when done."""

    frame: DataFrame
    buckets: int
    exchange: str
    n_files: int
    result: EtlResult
    n_activity: int

    def close(self, spark: SparkSession) -> None:
        """Unpersist the parse and remove the exchange folder."""
        self.frame.unpersist()
        _clear(spark, self.exchange)


def _counts_and_rejections(frame: DataFrame, names: list[str], by_file: bool, out: str,
                           events_path: str,
                           rejected_format: RejectedFormat) -> tuple[EtlResult, int]:  # fmt: skip
    """Step 2: run the parse, count per file, write the rejections; the counts and outputs so
    far, and how many events are activity."""
    from pyspark.sql import functions as F

    result = EtlResult()
    # One job runs the parse and brings back the counts and each file's first rejections.
    kind = F.col("_kind")
    first = (kind == _tasks.KIND_REJECTED) & (F.col("n_rejected") < _tasks.FIRST_REJECTED)
    counted = frame.filter((kind == _tasks.KIND_COUNTS) | first).select(
        "_kind", "_file", "_row", "n_read", "n_parsed", "n_events", "n_rejected", "n_activity",
        "rej_raw", "rej_stage", "rej_reason", "rej_error",
    )  # fmt: skip
    collected = counted.collect()
    counts = {r["_file"]: r for r in collected if r["_kind"] == _tasks.KIND_COUNTS}
    for k, name in enumerate(names):
        c = counts[k]
        per = result.per_file.setdefault(name, EtlCounts())
        for target in (per, result.total):
            target.add(c["n_read"], c["n_parsed"], c["n_events"], c["n_rejected"])
    rejected_path = _join(out, f"rejected.{rejected_format}")
    rejected = frame.filter(kind == _tasks.KIND_REJECTED)
    if not by_file:  # else partition k holds file k's rejections in order: no sort to run
        rejected = rejected.orderBy("_file", "_row")
    if rejected_format == "jsonl":
        rejected.select("rej_json").write.mode("overwrite").text(rejected_path)
    else:
        names_ = ("origin", "stage", "error", "reason", "raw")
        columns = [F.col(f"rej_{c}").alias(c) for c in names_]
        rejected.select(*columns).write.mode("overwrite").parquet(rejected_path)
    result.outputs["events"] = Path(events_path)
    result.outputs["rejected"] = Path(rejected_path)
    result.first_rejected = _first_rejected(
        [r for r in collected if r["_kind"] == _tasks.KIND_REJECTED], names
    )
    n_activity = sum(c["n_activity"] for c in counts.values())
    return result, n_activity


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
    partitions: int | None = None,
) -> Parsed:
    """Steps 1 and 2: parse the inputs, write events and rejections, count per file."""
    events_path, exchange = _join(out, "events.parquet"), _join(out, EXCHANGE)
    _clear(spark, events_path)
    _clear(spark, exchange)
    frame, names, buckets, by_file = parsed_inputs(spark, inputs, events_path, exchange,
                                                   fmt=fmt, kind=kind, options=options,
                                                   chunk_size=chunk_size,
                                                   as_json=rejected_format == "jsonl",
                                                   partitions=partitions)  # fmt: skip
    try:
        result, n_activity = _counts_and_rejections(frame, names, by_file, out, events_path,
                                                    rejected_format)  # fmt: skip
    except BaseException:  # a failed parse leaves neither a cached frame nor an exchange
        frame.unpersist()
        _clear(spark, exchange)
        raise
    return Parsed(frame, buckets, exchange, len(names), result, n_activity)


def _features(spark: SparkSession, parsed: Parsed, out: str, spec: Path | None,
              target: str) -> None:  # fmt: skip
    """Step 3: every spec fitted in one pass over the buckets, and featurised in a second."""
    result = parsed.result
    docs = spec_documents(spec, parsed.n_activity, result.total.events)
    buckets = by_bucket(spark, parsed.buckets)
    exchange = {"exchange_dir": parsed.exchange, "n_files": parsed.n_files}
    fitted = _fitted(buckets, [doc for _, doc in docs], target, exchange)
    described = [f.describe() for f in fitted]
    feat_paths = []
    for (suffix, _), doc in zip(docs, described, strict=True):
        pipeline_path = _join(out, f"pipeline{suffix}.json")
        write_text(spark, pipeline_path, json.dumps(doc, indent=1, allow_nan=False) + "\n")
        result.outputs[f"pipeline{suffix}"] = Path(pipeline_path)
        feat_paths.append(_join(out, f"features{suffix}.parquet"))
        _clear(spark, feat_paths[-1])
    task = partial(_tasks.featurise_task, pipeline_docs=described, target=target,
                   out_dirs=feat_paths, **exchange)  # fmt: skip
    rows = [0] * len(docs)
    for row in buckets.mapInArrow(task, spark_schema(_tasks.WRITTEN_SCHEMA)).collect():
        rows[row["spec"]] += row["rows"]
    for (suffix, _), path, n in zip(docs, feat_paths, rows, strict=True):
        result.outputs[f"features{suffix}"] = Path(path)
        result.feature_rows[f"features{suffix}"] = n
