"""What runs inside Spark's Python tasks: our parsers, feature pipeline and models over Arrow.

Nothing here imports pyspark: Spark's ``mapInArrow`` hands these functions an iterator of
``pyarrow.RecordBatch`` and takes one back. They are the local engine's own steps
(:func:`~streams.etl.files.read_file`, :meth:`FittedPipeline.transform`,
:func:`~streams.pipeline.backfill.score_batches`), so the two engines cannot drift apart.

Every function here is module level and takes plain picklable arguments (JSON documents,
dataclasses), bound with :func:`functools.partial` by the driver.
"""

from __future__ import annotations

import dataclasses
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
    "FILE_SCHEMA",
    "FIT_SCHEMA",
    "KIND_COUNTS",
    "KIND_EVENT",
    "KIND_REJECTED",
    "PARSED_SCHEMA",
    "WRITTEN_SCHEMA",
    "featurise_task",
    "fit_task",
    "fitted_from_doc",
    "parse_task",
]

KIND_EVENT, KIND_REJECTED, KIND_COUNTS = 0, 1, 2

FILE_SCHEMA = pa.schema([
    ("file", pa.int32()),  # position in the job's input list (the local engine's file order)
    ("path", pa.string()),  # what the task opens: an absolute local path; None with content
    ("name", pa.string()),  # the file's name in origins (as the user gave it)
    ("mtime_ms", pa.int64()),  # the RFC 3164 year reference when none is given
    ("content", pa.binary()),  # the bytes of a file Spark read (s3a://, hdfs://...)
])  # fmt: skip

_EXTRA = [
    ("_kind", pa.int8()),  # KIND_EVENT / KIND_REJECTED / KIND_COUNTS
    ("_file", pa.int32()),
    ("_row", pa.int64()),  # events: n-th event of the file; rejections: their line/row
    ("rej_origin", pa.string()),
    ("rej_stage", pa.string()),
    ("rej_error", pa.string()),
    ("rej_reason", pa.string()),
    ("rej_raw", pa.binary()),
    ("rej_json", pa.string()),  # the local engine's rejected.jsonl line
    ("n_read", pa.int64()),
    ("n_parsed", pa.int64()),
    ("n_events", pa.int64()),
    ("n_rejected", pa.int64()),
]
PARSED_SCHEMA = pa.schema(
    [pa.field(f.name, f.type) for f in EVENT_SCHEMA] + [pa.field(n, t) for n, t in _EXTRA]
)
"""One schema for everything a parse task returns (Spark's mapInArrow takes one): events,
rejections and per-file counts, told apart by ``_kind``."""

FIT_SCHEMA = pa.schema([("part", pa.binary())])


def _batch(columns: dict[str, pa.Array], n: int) -> pa.RecordBatch:
    arrays = [columns[f.name] if f.name in columns else pa.nulls(n, f.type)
              for f in PARSED_SCHEMA]  # fmt: skip
    return pa.RecordBatch.from_arrays(arrays, schema=PARSED_SCHEMA)


def _events_batch(events: pa.RecordBatch, file: int, first_row: int) -> pa.RecordBatch:
    n = events.num_rows
    cols = {f.name: events.column(i) for i, f in enumerate(EVENT_SCHEMA)}
    cols["_kind"] = pa.array(np.full(n, KIND_EVENT, np.int8))
    cols["_file"] = pa.array(np.full(n, file, np.int32))
    cols["_row"] = pa.array(np.arange(first_row, first_row + n, dtype=np.int64))
    return _batch(cols, n)


def _rejected_batch(rejected: list[Rejected], file: int, as_json: bool) -> pa.RecordBatch:
    import orjson

    from streams.etl.job import rejected_record

    n = len(rejected)
    cols = {
        "_kind": pa.array(np.full(n, KIND_REJECTED, np.int8)),
        "_file": pa.array(np.full(n, file, np.int32)),
        "_row": pa.array([getattr(r.origin, "line", 0) for r in rejected], pa.int64()),
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


def _counts_batch(file: int, counts: tuple[int, int, int, int]) -> pa.RecordBatch:
    cols = {"_kind": pa.array([KIND_COUNTS], pa.int8()), "_file": pa.array([file], pa.int32())}
    for name, value in zip(("n_read", "n_parsed", "n_events", "n_rejected"), counts,
                           strict=True):  # fmt: skip
        cols[name] = pa.array([value], pa.int64())
    return _batch(cols, 1)


def _parse_one(row: dict, fmt: str, kind: str, options: ParseOptions, chunk_size: int,
               as_json: bool, scratch: Path) -> Iterator[pa.RecordBatch]:  # fmt: skip
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
    read = parsed = n_events = n_rejected = 0
    for chunk in read_file(path, fmt, kind=kind, options=opts, chunk_size=chunk_size):
        events, rejected = chunk.parsed.events, chunk.parsed.rejected
        if events.num_rows:
            yield _events_batch(events, file, n_events)
        if rejected:
            rejected = [
                dataclasses.replace(r, origin=FileOrigin(name, r.origin.line))
                if isinstance(r.origin, FileOrigin) and r.origin.path == opened
                else r
                for r in rejected
            ]
            yield _rejected_batch(rejected, file, as_json)
        read += chunk.n_read
        parsed += chunk.n_read - len(rejected)
        n_events += events.num_rows
        n_rejected += len(rejected)
    yield _counts_batch(file, (read, parsed, n_events, n_rejected))


def parse_task(batches: Iterator[pa.RecordBatch], *, fmt: str, kind: str,
               options: ParseOptions, chunk_size: int,
               as_json: bool) -> Iterator[pa.RecordBatch]:  # fmt: skip
    """Files (:data:`FILE_SCHEMA` rows) -> events, rejections and counts (:data:`PARSED_SCHEMA`),
    each file read whole by :func:`~streams.etl.files.read_file`, in order."""
    with tempfile.TemporaryDirectory(prefix="streamscore-spark-") as tmp:
        for batch in batches:
            for row in batch.to_pylist():
                yield from _parse_one(row, fmt, kind, options, chunk_size, as_json, Path(tmp))


def _event_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    names = EVENT_SCHEMA.names
    for batch in batches:
        if batch.num_rows:
            yield pa.RecordBatch.from_arrays([batch.column(n) for n in names],
                                             schema=EVENT_SCHEMA)  # fmt: skip


def fit_task(batches: Iterator[pa.RecordBatch], *, spec_json: str,
             target: str) -> Iterator[pa.RecordBatch]:  # fmt: skip
    """One partition's normaliser statistics (a pickled :class:`FitPart`), from events sorted
    by time within the partition, every entity's events in this partition."""
    from streams.features import FeaturePipeline, FeatureSpec

    pipeline = FeaturePipeline(FeatureSpec.from_json(spec_json), target)
    part = pipeline.fit_part(_event_batches(batches), pipeline.new_state())
    yield pa.RecordBatch.from_arrays([pa.array([pickle.dumps(part)], pa.binary())],
                                     schema=FIT_SCHEMA)  # fmt: skip


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


WRITTEN_SCHEMA = pa.schema([("path", pa.string()), ("rows", pa.int64())])


def _filesystem(uri: str):
    """(pyarrow filesystem, path in it) for a local path or a URI pyarrow knows; Spark's
    ``s3a://`` is pyarrow's ``s3://``."""
    from pyarrow import fs

    if "://" not in uri:
        return fs.LocalFileSystem(), os.path.abspath(uri)
    if uri.startswith("s3a://"):
        uri = "s3://" + uri[len("s3a://") :]
    return fs.FileSystem.from_uri(uri)


def featurise_task(batches: Iterator[pa.RecordBatch], *, pipeline_doc: dict, target: str,
                   out_dir: str) -> Iterator[pa.RecordBatch]:  # fmt: skip
    """Feature vectors of a partition's events (sorted by time; every entity's events here),
    one window state carried from batch to batch as a stream worker carries it.

    Writes them as ``OUT_DIR/part-NNNNN.parquet`` (NNNNN: the partition) with the local
    engine's schema (fixed-size float32 lists, names and fingerprint in the metadata), under
    a temporary name renamed at the end, so a retried task overwrites rather than duplicates.
    Returns one (path, rows) row.
    """
    from pyspark import TaskContext

    from streams.etl.job import feature_table, feature_writer

    context = TaskContext.get()
    partition = context.partitionId() if context else 0
    attempt = context.attemptNumber() if context else 0
    fitted = fitted_from_doc(pipeline_doc, target)
    state = fitted.new_state()
    fs, root = _filesystem(out_dir)
    fs.create_dir(root, recursive=True)
    final = f"{root}/part-{partition:05d}.parquet"
    temp = f"{root}/_tmp-{partition:05d}-{attempt}.parquet"
    writer = None
    rows = 0
    try:
        for events in _event_batches(batches):
            table = feature_table(fitted.transform(events, state).to_arrow())
            if writer is None:
                writer = feature_writer(temp, table.schema, filesystem=fs)
            writer.write_table(table)
            rows += table.num_rows
    finally:
        if writer is not None:
            writer.close()
    if writer is not None:
        fs.move(temp, final)
    written = [pa.array([final if rows else None], pa.string()), pa.array([rows], pa.int64())]
    yield pa.RecordBatch.from_arrays(written, schema=WRITTEN_SCHEMA)
