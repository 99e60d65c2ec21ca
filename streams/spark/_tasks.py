"""What runs inside Spark's Python tasks: our parsers, feature pipeline and models over Arrow.

Spark's ``mapInArrow`` hands these functions an iterator of ``pyarrow.RecordBatch`` and takes
one back. They are the local engine's own steps (:func:`~streams.etl.files.read_file`,
:meth:`FittedPipeline.transform`, :func:`~streams.pipeline.backfill.score_batches`), so the
two engines cannot drift apart.

Events never cross into the JVM: a parse task writes a file's events to Parquet itself, and
once more split by *bucket* (``kafka_partitions(entity, buckets)``: every entity in one
bucket) into an exchange file in the output folder (:class:`BucketedEvents`). A bucket task
(one per bucket) reads its bucket's batches from every input file's exchange file
(:func:`bucket_tables`) and puts the bucket's events in the local engine's order (time, then
input file, then position in it) before fitting, featurising or scoring. Spark schedules the
tasks and carries the rejections and counts. Converting millions of event rows to and from
Spark's row format, shuffling, sorting and writing them in the JVM cost 4-8x the local
engine's own work; caching and shuffling the events as a few large Arrow blobs per bucket
still cost the JVM 17-29 CPU s per 5 million events, which the exchange files save.

Every function here is module level and takes plain picklable arguments (JSON documents,
dataclasses), bound with :func:`functools.partial` by the driver.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from schemas.events import EVENT_SCHEMA
from streams.etl.types import FileOrigin, ParseOptions, Rejected

__all__ = [
    "BUCKET_FIT_SCHEMA",
    "BUCKET_SCHEMA",
    "BucketedEvents",
    "PartFile",
    "FILE_SCHEMA",
    "FIRST_REJECTED",
    "FIT_SCHEMA",
    "KIND_COUNTS",
    "KIND_REJECTED",
    "PARSED_SCHEMA",
    "WRITTEN_SCHEMA",
    "bucket_tables",
    "event_chunks",
    "featurise_task",
    "fit_bucket_task",
    "fit_task",
    "fitted_from_doc",
    "one_core",
    "parse_task",
    "partition_id",
    "start_task",
]

KIND_REJECTED, KIND_COUNTS = 1, 2
FIRST_REJECTED = 3
"""Rejections the driver collects per file (with the counts) for the job's first three."""

FILE_SCHEMA = pa.schema([
    ("file", pa.int32()),  # position in the job's input list (the local engine's file order)
    ("path", pa.string()),  # what the task opens: an absolute local path; None with content
    ("name", pa.string()),  # the file's name in origins (as the user gave it)
    ("mtime_ms", pa.int64()),  # the RFC 3164 year reference when none is given
    ("content", pa.binary()),  # the bytes of a file Spark read (s3a://, hdfs://...)
])  # fmt: skip

PARSED_SCHEMA = pa.schema([
    ("_kind", pa.int8()),  # KIND_REJECTED / KIND_COUNTS
    ("_file", pa.int32()),
    ("_row", pa.int64()),  # rejections: the line or row
    ("rej_origin", pa.string()),
    ("rej_stage", pa.string()),
    ("rej_error", pa.string()),
    ("rej_reason", pa.string()),
    ("rej_raw", pa.binary()),
    ("rej_json", pa.string()),  # the local engine's rejected.jsonl line
    ("n_read", pa.int64()),
    ("n_parsed", pa.int64()),
    ("n_events", pa.int64()),
    ("n_rejected", pa.int64()),  # counts: the file's; a rejection: the file's before it
    ("n_activity", pa.int64()),  # events whose source is activity (the spec choice needs it)
])  # fmt: skip
"""One schema for everything a parse task returns (Spark's mapInArrow takes one):
rejections and per-file counts, told apart by ``_kind``."""

BUCKET_SCHEMA = pa.schema([("bucket", pa.int32())])
"""What a bucket task gets from Spark: the numbers of its buckets (one, with
``repartitionById``); the events it reads from the exchange files (:func:`bucket_tables`)."""

FIT_SCHEMA = pa.schema([("part", pa.binary())])
BUCKET_FIT_SCHEMA = pa.schema([("spec", pa.int32()), ("part", pa.binary())])


def _batch(columns: dict[str, pa.Array], n: int) -> pa.RecordBatch:
    arrays = [columns[f.name] if f.name in columns else pa.nulls(n, f.type)
              for f in PARSED_SCHEMA]  # fmt: skip
    return pa.RecordBatch.from_arrays(arrays, schema=PARSED_SCHEMA)


_EXCHANGE_OPTIONS = pa.ipc.IpcWriteOptions(compression="lz4")


class BucketedEvents:
    """One input file's events, split by bucket, for the bucket tasks: ``DIR/FFFFFF.arrow``
    (FFFFFF: the file's index) is an Arrow IPC file whose record batches each hold one bucket's
    events of one chunk, in the file's order; ``DIR/FFFFFF.json`` lists the bucket of each
    batch. Both are written under temporary names and renamed when the file is parsed (the
    index last), so a retried task overwrites them and a failed one leaves no index; a file
    without events gets an empty index and no IPC file. LZ4 (the exchange may be a remote
    store): about 0.6 CPU us per event written and 0.15 per event read."""

    def __init__(self, exchange_dir: str, file: int, buckets: int) -> None:
        from pyspark import TaskContext

        context = TaskContext.get()
        attempt = context.attemptNumber() if context else 0
        self.fs, self.root = _filesystem(exchange_dir)
        self.fs.create_dir(self.root, recursive=True)
        self.name, self.attempt, self.buckets = f"{file:06d}", attempt, buckets
        self.index: list[int] = []
        self._sink = self._writer = None

    def _temp(self, suffix: str) -> str:
        return f"{self.root}/_tmp-{self.name}-{self.attempt}{suffix}"

    def write(self, events: pa.RecordBatch) -> None:
        """A chunk's events: one batch per bucket that has any, in their order in the chunk."""
        from kernels.partition import kafka_partitions

        where = kafka_partitions(events.column("entity"), self.buckets)
        order = np.argsort(where, kind="stable")
        grouped = events.take(pa.array(order))
        bounds = np.searchsorted(where[order], np.arange(self.buckets + 1))
        if self._writer is None:
            self._sink = self.fs.open_output_stream(self._temp(".arrow"))
            self._writer = pa.ipc.new_file(self._sink, EVENT_SCHEMA, options=_EXCHANGE_OPTIONS)
        for bucket, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            if hi > lo:
                self._writer.write_batch(grouped.slice(lo, hi - lo))
                self.index.append(bucket)

    def __enter__(self) -> BucketedEvents:
        return self

    def __exit__(self, kind, *_) -> None:
        if self._writer is not None:
            self._writer.close()
            self._sink.close()
            if kind is not None:
                self.fs.delete_file(self._temp(".arrow"))
                return
            self.fs.move(self._temp(".arrow"), f"{self.root}/{self.name}.arrow")
        if kind is None:
            with self.fs.open_output_stream(self._temp(".json")) as out:
                out.write(json.dumps(self.index).encode())
            self.fs.move(self._temp(".json"), f"{self.root}/{self.name}.json")


def _rejected_batch(rejected: list[Rejected], file: int, before: int,
                    as_json: bool) -> pa.RecordBatch:  # fmt: skip
    """Rejections as PARSED rows; ``before``: the file's rejections before these."""
    import orjson

    from streams.etl.job import rejected_record

    n = len(rejected)
    cols = {
        "_kind": pa.array(np.full(n, KIND_REJECTED, np.int8)),
        "_file": pa.array(np.full(n, file, np.int32)),
        "_row": pa.array([getattr(r.origin, "line", 0) for r in rejected], pa.int64()),
        "n_rejected": pa.array(np.arange(before, before + n, dtype=np.int64)),
        "rej_origin": pa.array([str(r.origin) for r in rejected], pa.string()),
        "rej_stage": pa.array([r.stage.label for r in rejected], pa.string()),
        "rej_error": pa.array([r.error for r in rejected], pa.string()),
        "rej_reason": pa.array([r.reason for r in rejected], pa.string()),
        "rej_raw": pa.array([r.raw for r in rejected], pa.binary()),
    }
    if as_json:
        cols["rej_json"] = pa.array([orjson.dumps(rejected_record(r)).decode() for r in rejected],
                                    pa.string())  # fmt: skip
    return _batch(cols, n)


def _counts_batch(file: int, counts: tuple[int, ...]) -> pa.RecordBatch:
    cols = {"_kind": pa.array([KIND_COUNTS], pa.int8()), "_file": pa.array([file], pa.int32())}
    for name, value in zip(("n_read", "n_parsed", "n_events", "n_rejected", "n_activity"),
                           counts, strict=True):  # fmt: skip
        cols[name] = pa.array([value], pa.int64())
    return _batch(cols, 1)


def _parse_one(row: dict, fmt: str, kind: str, options: ParseOptions, chunk_size: int,
               as_json: bool, scratch: Path, events_dir: str, exchange_dir: str,
               buckets: int) -> Iterator[pa.RecordBatch]:  # fmt: skip
    import pyarrow.compute as pc

    from schemas.events import SourceFormat
    from streams.etl.files import read_file

    file, name = int(row["file"]), row["name"]
    opts = options
    if opts.reference_ms is None:
        opts = dataclasses.replace(opts, reference_ms=int(row["mtime_ms"]))
    if row["content"] is not None:  # a remote file: Spark read its bytes
        path = scratch / f"input{Path(name).suffix}"
        path.write_bytes(row["content"])
    else:
        path = Path(row["path"])
    opened = str(path)
    read = parsed = n_events = n_rejected = n_activity = 0
    with (
        PartFile(events_dir, f"part-{file:05d}", schema=EVENT_SCHEMA) as out,  # even if empty
        BucketedEvents(exchange_dir, file, buckets) as exchange,
    ):
        for chunk in read_file(path, fmt, kind=kind, options=opts, chunk_size=chunk_size):
            events, rejected = chunk.parsed.events, chunk.parsed.rejected
            if events.num_rows:
                out.write(pa.Table.from_batches([events]))
                exchange.write(events)
                is_activity = pc.equal(events.column("source"), SourceFormat.ACTIVITY.value)
                n_activity += pc.sum(is_activity).as_py() or 0
            if rejected:
                rejected = [
                    dataclasses.replace(r, origin=FileOrigin(name, r.origin.line))
                    if isinstance(r.origin, FileOrigin) and r.origin.path == opened
                    else r
                    for r in rejected
                ]
                yield _rejected_batch(rejected, file, n_rejected, as_json)
            read += chunk.n_read
            parsed += chunk.n_read - len(rejected)
            n_events += events.num_rows
            n_rejected += len(rejected)
    yield _counts_batch(file, (read, parsed, n_events, n_rejected, n_activity))


def parse_task(batches: Iterator[pa.RecordBatch], *, fmt: str, kind: str,
               options: ParseOptions, chunk_size: int, as_json: bool, events_dir: str,
               exchange_dir: str, buckets: int) -> Iterator[pa.RecordBatch]:  # fmt: skip
    """Files (:data:`FILE_SCHEMA` rows) -> rejections and counts (:data:`PARSED_SCHEMA`), each
    file read whole by :func:`~streams.etl.files.read_file`, in order; each file's events
    written to ``EVENTS_DIR/part-NNNNN.parquet`` (NNNNN: the file's index, so the parts are in
    input order) and, split into ``buckets``, to ``EXCHANGE_DIR`` (:class:`BucketedEvents`)."""
    start_task()
    with tempfile.TemporaryDirectory(prefix="streamscore-spark-") as tmp:
        for batch in batches:
            for row in batch.to_pylist():
                yield from _parse_one(row, fmt, kind, options, chunk_size, as_json, Path(tmp),
                                      events_dir, exchange_dir, buckets)  # fmt: skip


def bucket_tables(batches: Iterator[pa.RecordBatch], *, exchange_dir: str,
                  n_files: int) -> Iterator[tuple[int, pa.Table]]:  # fmt: skip
    """(bucket, its events in the local engine's order) for each bucket among a task's
    :data:`BUCKET_SCHEMA` rows, in bucket order; each table has
    :data:`~schemas.events.EVENT_SCHEMA`. The events are the bucket's batches of the
    exchange files (:class:`BucketedEvents`) of the job's ``n_files`` input files.

    The local engine's order is time, then input file, then position in it: the batches read
    in input order (file, then chunk) and stably sorted by ``ts_ms`` give it, and when they
    are already in time order (a bucket of one time-ordered file) nothing moves."""
    from streams.etl.job import time_ordered

    wanted = sorted({b for batch in batches for b in batch.column("bucket").to_pylist()})
    if not wanted:
        return
    fs, root = _filesystem(exchange_dir)
    indexes = []
    for file in range(n_files):
        with fs.open_input_stream(f"{root}/{file:06d}.json") as index:
            indexes.append(json.loads(index.read()))
    for bucket in wanted:
        parts: list[pa.RecordBatch] = []
        for file, index in enumerate(indexes):
            mine = [k for k, b in enumerate(index) if b == bucket]
            if mine:
                with fs.open_input_file(f"{root}/{file:06d}.arrow") as source:
                    reader = pa.ipc.open_file(source)
                    parts += [reader.get_batch(k) for k in mine]
        yield bucket, time_ordered(pa.Table.from_batches(parts, EVENT_SCHEMA))


def event_chunks(table: pa.Table, chunk_size: int = 65_536) -> Iterator[pa.Table]:
    """A bucket's ordered events (:func:`bucket_tables`) in chunks of the local engine's size."""
    for start in range(0, table.num_rows, chunk_size):
        yield table.slice(start, chunk_size)


def _event_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    names = EVENT_SCHEMA.names
    for batch in batches:
        if batch.num_rows:
            yield pa.RecordBatch.from_arrays([batch.column(n) for n in names],
                                             schema=EVENT_SCHEMA)  # fmt: skip


def _fit_part_row(part) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([pickle.dumps(part)], pa.binary())],
                                      schema=FIT_SCHEMA)  # fmt: skip


def fit_task(batches: Iterator[pa.RecordBatch], *, spec_json: str,
             target: str) -> Iterator[pa.RecordBatch]:  # fmt: skip
    """One partition's normaliser statistics (a pickled :class:`FitPart`), from events sorted
    by time within the partition, every entity's events in this partition."""
    from streams.features import FeaturePipeline, FeatureSpec

    start_task()
    pipeline = FeaturePipeline(FeatureSpec.from_json(spec_json), target)
    yield _fit_part_row(pipeline.fit_part(_event_batches(batches), pipeline.new_state()))


def fit_bucket_task(batches: Iterator[pa.RecordBatch], *, spec_jsons: list[str], target: str,
                    exchange_dir: str, n_files: int) -> Iterator[pa.RecordBatch]:  # fmt: skip
    """:func:`fit_task` over a task's buckets (:data:`BUCKET_SCHEMA` rows, their events read by
    :func:`bucket_tables`), for several specs in one pass: one :class:`FitPart` per spec and
    bucket (:data:`BUCKET_FIT_SCHEMA`)."""
    from streams.features import FeaturePipeline, FeatureSpec

    start_task()
    pipelines = [FeaturePipeline(FeatureSpec.from_json(doc), target) for doc in spec_jsons]
    for _, table in bucket_tables(batches, exchange_dir=exchange_dir, n_files=n_files):
        for k, pipeline in enumerate(pipelines):
            part = pipeline.fit_part(event_chunks(table), pipeline.new_state())
            yield pa.RecordBatch.from_arrays(
                [pa.array([k], pa.int32()), pa.array([pickle.dumps(part)], pa.binary())],
                schema=BUCKET_FIT_SCHEMA,
            )


def fitted_from_doc(doc: dict, target: str):
    """A :class:`FittedPipeline` from its ``describe()`` document, fingerprint checked."""
    from streams.features import FeaturePipeline, FeatureSpec, FittedPipeline
    from streams.features.errors import FingerprintError
    from streams.features.pipeline import ENGINE

    fitted = FittedPipeline(FeaturePipeline(FeatureSpec.model_validate(doc["spec"]), target),
                            doc["stats"])  # fmt: skip
    if fitted.fingerprint != doc["fingerprint"] or doc.get("engine") != ENGINE:
        raise FingerprintError(
            f"feature pipeline shipped to a Spark task: expected fingerprint "
            f"{doc['fingerprint']!r}, recomputed {fitted.fingerprint!r}"
        )
    return fitted


WRITTEN_SCHEMA = pa.schema([("spec", pa.int32()), ("path", pa.string()), ("rows", pa.int64())])


def _filesystem(uri: str):
    """(pyarrow filesystem, path in it) for a local path or a URI pyarrow knows; Spark's
    ``s3a://`` is pyarrow's ``s3://``."""
    from pyarrow import fs

    if "://" not in uri:
        return fs.LocalFileSystem(), os.path.abspath(uri)
    if uri.startswith("s3a://"):
        uri = "s3://" + uri[len("s3a://") :]
    return fs.FileSystem.from_uri(uri)


class PartFile:
    """One Parquet part file of an output folder, written by one task: under a temporary
    name, renamed to ``OUT_DIR/NAME.parquet`` when the task completes, so a retried task
    overwrites its part rather than duplicating it and a failed one leaves none. Nothing is
    written unless :meth:`write` is called or ``schema`` is given (an empty part then has
    it). ``make``: the writer factory (``pq.ParquetWriter`` or
    :func:`~streams.etl.job.feature_writer`)."""

    def __init__(self, out_dir: str, name: str, make=None, schema: pa.Schema | None = None) -> None:
        import pyarrow.parquet as pq
        from pyspark import TaskContext

        context = TaskContext.get()
        attempt = context.attemptNumber() if context else 0
        self.fs, root = _filesystem(out_dir)
        self.fs.create_dir(root, recursive=True)
        self.path = f"{root}/{name}.parquet"
        self._temp = f"{root}/_tmp-{name}-{attempt}.parquet"
        self._make = make or pq.ParquetWriter
        self._writer = None
        self.rows = 0
        if schema is not None:
            self._writer = self._make(self._temp, schema, filesystem=self.fs)

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self._writer = self._make(self._temp, table.schema, filesystem=self.fs)
        self._writer.write_table(table)
        self.rows += table.num_rows

    def __enter__(self) -> PartFile:
        return self

    def __exit__(self, kind, *_) -> None:
        if self._writer is None:
            return
        self._writer.close()
        if kind is None:
            self.fs.move(self._temp, self.path)
        else:
            self.fs.delete_file(self._temp)


def partition_id() -> int:
    """This Spark task's partition (0 outside Spark)."""
    from pyspark import TaskContext

    context = TaskContext.get()
    return context.partitionId() if context else 0


def featurise_task(batches: Iterator[pa.RecordBatch], *, pipeline_docs: list[dict],
                   target: str, out_dirs: list[str], exchange_dir: str,
                   n_files: int) -> Iterator[pa.RecordBatch]:  # fmt: skip
    """Feature vectors of a task's buckets (:data:`BUCKET_SCHEMA` rows, their events read by
    :func:`bucket_tables`) for each fitted pipeline
    (``describe()`` documents) in one pass: each bucket's events in the local engine's order,
    one window state per pipeline carried through them as a stream worker carries it.

    Pipeline ``k`` writes ``OUT_DIRS[k]/part-NNNNN.parquet`` (NNNNN: the Spark partition, see
    :class:`PartFile`) with the local engine's schema (:func:`~streams.etl.job.feature_table`:
    float32 vectors as fixed-size binary, names and fingerprint in the metadata). Returns
    one (spec, path, rows) row per pipeline.
    """
    from contextlib import ExitStack

    from streams.etl.job import feature_table, feature_writer

    start_task()
    fitted = [fitted_from_doc(doc, target) for doc in pipeline_docs]
    name = f"part-{partition_id():05d}"
    with ExitStack() as stack:
        outs = [stack.enter_context(PartFile(d, name, feature_writer)) for d in out_dirs]
        for _, table in bucket_tables(batches, exchange_dir=exchange_dir, n_files=n_files):
            states = [f.new_state() for f in fitted]
            for events in event_chunks(table):
                for pipeline, state, out in zip(fitted, states, outs, strict=True):
                    out.write(feature_table(pipeline.transform(events, state).to_arrow()))
    written = [pa.array(range(len(outs)), pa.int32()),
               pa.array([o.path if o.rows else None for o in outs], pa.string()),
               pa.array([o.rows for o in outs], pa.int64())]  # fmt: skip
    yield pa.RecordBatch.from_arrays(written, schema=WRITTEN_SCHEMA)


def start_task() -> None:
    """What every task here runs first: :func:`one_core`, then ``gc.freeze()``.

    PySpark's daemon runs ``gc.collect()`` after every task of a reused Python worker, and the
    objects of the modules a worker has imported (TensorFlow's above all: 437,000 objects,
    0.42 s per collection) are scanned each time: about 9 of 120 CPU seconds of a 5M-event
    ``etl`` + ``score`` at ``local[2]``. The objects alive when a task starts are the worker's
    modules and caches (the previous task's garbage was just collected), so freezing them
    leaves every later collection only the objects tasks create."""
    import gc

    one_core()
    gc.freeze()


def one_core() -> None:
    """A task is one core: keep Arrow, BLAS and Numba from starting a thread per core in this
    Python worker. The session already puts :data:`~streams.spark.session.ONE_CORE_ENV` in
    the workers' environment; this also covers workers started without it (``spark-submit``
    with its own ``--conf``) for the libraries not yet imported, and Arrow's pools."""
    from streams.spark.session import ONE_CORE_ENV

    for var, value in ONE_CORE_ENV.items():
        os.environ.setdefault(var, value)
    if pa.cpu_count() != 1:
        pa.set_cpu_count(1)
