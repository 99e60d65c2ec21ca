"""The offline ETL job behind ``streamscore etl``: files in; events, features, rejects out.

1. Read every input with :func:`~streams.etl.files.read_file` (chunk by chunk), appending the
   events to ``events.parquet`` and the rejections to ``rejected.jsonl`` (or ``.parquet``).
   Big text inputs are parsed in worker processes, by default one per available CPU
   (:func:`parse_worker_count`), while this one reads the next lines, writes and fits; while the
   events of a single input come in time order, the feature specs are fitted on them as they
   arrive (:class:`_EarlyFit`), which spares step 2 a featurising pass.
2. Put the events in time order (a stable sort on ``ts_ms``: events of one millisecond keep
   their file order), so each entity's window features see its events as they happened
   whatever the order of the files. Fit the feature pipeline on all the events (normaliser
   statistics need the whole set), or load an already fitted one, then transform the events
   in that order with one window state, in chunks, into ``features[-NAME].parquet`` (keys,
   and each vector as the bytes of its float32 values: :func:`feature_table`); the
   fitted pipeline (spec, statistics, fingerprint) is saved beside it as
   ``pipeline[-NAME].json``. The Spark engine (:mod:`streams.spark`) gives the same rows: it
   sorts each entity's events the same way in one task.

Parquet files are written on a background thread (:class:`_WriteBehind`), chunk k while
chunk k+1 is parsed or transformed: pyarrow encodes without the GIL, on another core. The
outputs are the same, byte for byte, whatever the number of parse workers and whether the
fit ran early.

Without a spec, each built-in spec (activity, logs) runs when its filter keeps some events.
The events of all inputs are held in memory for step 2 (Arrow columns, ~100-200 bytes an event).
"""

from __future__ import annotations

import base64
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from schemas.events import EVENT_SCHEMA, SourceFormat
from streams.etl.errors import InputFormatError
from streams.etl.files import FileKind, ParsePool, detect_file_kind, read_file
from streams.etl.types import FileOrigin, InputFormat, ParseOptions, Rejected

if TYPE_CHECKING:
    from streams.features import FittedPipeline

__all__ = [
    "EtlCounts",
    "FEATURE_ENCODING",
    "feature_matrix",
    "feature_table",
    "feature_writer",
    "available_cpus",
    "parse_worker_count",
    "spec_documents",
    "EtlResult",
    "RejectedFormat",
    "rejected_record",
    "run_etl",
    "time_ordered",
]

RejectedFormat = Literal["jsonl", "parquet"]
PROGRESS_MIN_BYTES = 8 << 20
"""Inputs smaller than this (in total) show no progress bar."""
PARSE_POOL_MIN_BYTES = 32 << 20
"""Text inputs smaller than this (in total) are parsed in this process: starting the parse
workers (about a second) would cost more than they save."""

_REJECTED_SCHEMA = pa.schema([
    ("origin", pa.string()), ("stage", pa.string()), ("error", pa.string()),
    ("reason", pa.string()), ("raw", pa.binary()),
])  # fmt: skip


@dataclass(slots=True)
class EtlCounts:
    """Payloads read (lines, stanzas, rows), those that yielded events, events, rejections."""

    read: int = 0
    parsed: int = 0
    events: int = 0
    rejected: int = 0

    def add(self, read: int, parsed: int, events: int, rejected: int) -> None:
        self.read += read
        self.parsed += parsed
        self.events += events
        self.rejected += rejected


@dataclass(slots=True)
class EtlResult:
    """Totals, counts per input file, and the files written (name -> path)."""

    total: EtlCounts = field(default_factory=EtlCounts)
    per_file: dict[str, EtlCounts] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)
    feature_rows: dict[str, int] = field(default_factory=dict)
    first_rejected: list[Rejected] = field(default_factory=list)  # up to 3, for a summary


def rejected_record(rej: Rejected) -> dict[str, object]:
    """A rejection as a JSON-able dict: the raw bytes as text when they are UTF-8, else base64."""
    rec: dict[str, object] = {"origin": str(rej.origin), "stage": rej.stage.label,
                              "error": rej.error, "reason": rej.reason}  # fmt: skip
    if isinstance(rej.origin, FileOrigin):
        rec["file"], rec["line"] = rej.origin.path, rej.origin.line
    try:
        rec["raw"] = rej.raw.decode()
    except UnicodeDecodeError:
        rec["raw_base64"] = base64.b64encode(rej.raw).decode()
    return rec


class _RejectSink:
    def __init__(self, path: Path, fmt: RejectedFormat) -> None:
        self.path = path
        self.fmt = fmt
        self._jsonl = open(path, "wb") if fmt == "jsonl" else None  # noqa: SIM115
        self._pq = pq.ParquetWriter(path, _REJECTED_SCHEMA) if fmt == "parquet" else None

    def write(self, rejected: list[Rejected]) -> None:
        if not rejected:
            return
        if self._jsonl is not None:
            self._jsonl.write(b"".join(orjson.dumps(rejected_record(r)) + b"\n" for r in rejected))
        elif self._pq is not None:
            cols = {
                "origin": [str(r.origin) for r in rejected],
                "stage": [r.stage.label for r in rejected],
                "error": [r.error for r in rejected],
                "reason": [r.reason for r in rejected],
                "raw": [r.raw for r in rejected],
            }
            self._pq.write_table(pa.table(cols, schema=_REJECTED_SCHEMA))

    def close(self) -> None:
        if self._jsonl is not None:
            self._jsonl.close()
        if self._pq is not None:
            self._pq.close()


class _WriteBehind:
    """Runs writes one at a time, in the order given, on one background thread.

    pyarrow's Parquet writer releases the GIL while it encodes, so the file's writes run on
    the second core while this thread parses or transforms the next chunk: the same calls in
    the same order on the same writer, so the same bytes. At most ``depth`` writes are queued
    or running (:meth:`submit` waits for the oldest beyond that), so memory stays flat. A write
    that fails raises in the caller's thread at the next :meth:`submit` or at :meth:`close`;
    the writes queued after it are dropped.
    """

    def __init__(self, depth: int = 2) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="etl-write")
        self._pending: deque[Future] = deque()
        self._depth = depth

    def submit(self, fn: Callable[..., object], *args: object) -> None:
        while len(self._pending) >= self._depth:
            self._wait_oldest()
        self._pending.append(self._pool.submit(fn, *args))

    def _wait_oldest(self) -> None:
        try:
            self._pending.popleft().result()
        except BaseException:
            self._abandon()
            raise

    def _abandon(self) -> None:
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True)

    def close(self, ok: bool = True) -> None:
        """Wait for the queued writes (``ok``), or drop those not started (after an error
        in the caller); either way no write runs any more when this returns."""
        if ok:
            while self._pending:
                self._wait_oldest()
        self._abandon()


def _progress(total: int, enabled: bool | None, size_bytes: int, desc: str, unit: str):
    from tqdm import tqdm  # imported on use: the CLI should start fast

    disable = enabled is False or (enabled is None and size_bytes < PROGRESS_MIN_BYTES)
    return tqdm(total=total, unit=unit, unit_scale=True, desc=desc, disable=disable)


class _EarlyFit:
    """Fits the feature specs on the events while they are read, as long as they come in time
    order (a log file's usually do), so that step 2 need not featurise them once more to fit.

    The events given in time order, with one window state, are exactly what the fit after
    sorting featurises, and the statistics are exact sums (see
    :mod:`streams.features._stats`), so the fitted pipelines are the same. At the first batch
    out of order, or any error (the fit after reading then raises it as before), it stops and
    step 2 fits as before. Both built-in specs are fitted when none is given: which ones run is
    known only at the end.
    """

    def __init__(self, spec_path: Path | None, target: str) -> None:
        from streams.features import FeaturePipeline, FeatureSpec

        self._fits: dict[str, tuple] = {}  # suffix -> (pipeline, state, FitPart so far)
        self._last_ts: int | None = None
        try:
            for suffix, doc in spec_documents(spec_path, 1, 2):  # given spec, or both built-ins
                if "fingerprint" not in doc:  # an already fitted pipeline needs no fit
                    pipe = FeaturePipeline(FeatureSpec.model_validate(doc), target)
                    state = pipe.new_state()
                    self._fits[suffix] = (pipe, state, pipe.fit_part((), state))
        except Exception:  # step 2 reads the spec again and says what is wrong
            self._fits = {}

    def add(self, events: pa.RecordBatch) -> None:
        if not self._fits or not events.num_rows:
            return
        try:
            ts = events.column("ts_ms").to_numpy()
            if (self._last_ts is not None and ts[0] < self._last_ts) or not bool(
                (ts[1:] >= ts[:-1]).all()
            ):
                self._fits = {}  # out of order: step 2 sorts them and fits
                return
            self._last_ts = int(ts[-1])
            for pipe, state, total in self._fits.values():
                part = pipe.fit_part((events,), state)
                total.seen += part.seen
                total.kept += part.kept
                for mine, theirs in zip(total.stats, part.stats, strict=True):
                    mine.merge(theirs)
        except Exception:  # the fit in step 2 raises it where it did before
            self._fits = {}

    def fitted(self, suffix: str) -> FittedPipeline | None:
        """The spec of output ``suffix`` fitted on all the events; None when stopped. Raises
        what :meth:`FeaturePipeline.fit` raises on them (no event left after the filters)."""
        fit = self._fits.get(suffix)
        return None if fit is None else fit[0].fit_parts([fit[2]])


def _read_inputs(inputs: Sequence[Path], fmt: InputFormat | str, kind: FileKind,
                 options: ParseOptions | None, out: Path, rejected_format: RejectedFormat,
                 chunk_size: int, progress: bool | None, result: EtlResult, *,
                 workers: int | None = 1,
                 early: _EarlyFit | None = None) -> list[pa.RecordBatch]:  # fmt: skip
    """Step 1 (also ``streamscore score``'s): the events of all inputs, in input order.

    ``workers``: parse processes (see :func:`parse_worker_count`; 1, the default, parses here:
    ``score`` has its models' threads running before it reads, and a fork copies none of
    them); ``early``: fit while reading."""
    workers = parse_worker_count(inputs, kind, workers)
    pool = ParsePool(workers) if workers > 1 else None  # before any thread: see ParsePool
    try:
        return _read_all(inputs, fmt, kind, options, out, rejected_format, chunk_size,
                         progress, pool, result, early)  # fmt: skip
    finally:
        if pool is not None:
            pool.close()


def _read_all(inputs: Sequence[Path], fmt: InputFormat | str, kind: FileKind,
              options: ParseOptions | None, out: Path, rejected_format: RejectedFormat,
              chunk_size: int, progress: bool | None, pool: ParsePool | None,
              result: EtlResult, early: _EarlyFit | None) -> list[pa.RecordBatch]:  # fmt: skip
    events_path = out / "events.parquet"
    rejected_path = out / f"rejected.{rejected_format}"
    batches: list[pa.RecordBatch] = []
    writer = pq.ParquetWriter(events_path, EVENT_SCHEMA)
    rejects = _RejectSink(rejected_path, rejected_format)
    size = sum(p.stat().st_size for p in inputs)
    bar = _progress(size, progress, size, "read", "B")
    behind = _WriteBehind()
    ok = False
    try:
        for path in inputs:
            counts = result.per_file.setdefault(str(path), EtlCounts())
            done = 0
            for chunk in read_file(path, fmt, kind=kind, options=options, chunk_size=chunk_size,
                                   pool=pool):  # fmt: skip
                parsed = chunk.parsed
                if parsed.events.num_rows:
                    behind.submit(writer.write_batch, parsed.events)
                    batches.append(parsed.events)
                    if early is not None:
                        early.add(parsed.events)
                rejects.write(parsed.rejected)
                result.first_rejected += parsed.rejected[: 3 - len(result.first_rejected)]
                n_ok = chunk.n_read - len(parsed.rejected)
                for c in (counts, result.total):
                    c.add(chunk.n_read, n_ok, parsed.events.num_rows, len(parsed.rejected))
                step = max(chunk.position - done, 0)
                done += step
                bar.update(step)
            bar.update(max(path.stat().st_size - done, 0))
        ok = True
    finally:
        try:
            behind.close(ok)
        finally:
            writer.close()
        rejects.close()
        bar.close()
    result.outputs["events"] = events_path
    result.outputs["rejected"] = rejected_path
    return batches


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def parse_worker_count(inputs: Sequence[Path], kind: FileKind, workers: int | None = None) -> int:
    """Processes that parse the text inputs (1: this one): ``workers`` when given; else
    :func:`available_cpus` when the text inputs add up to :data:`PARSE_POOL_MIN_BYTES`, else
    1. Always 1 where processes cannot be forked (see :class:`~streams.etl.files.ParsePool`)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    if workers is not None:
        return max(workers, 1)
    text = sum(p.stat().st_size for p in inputs
               if (detect_file_kind(p) if kind == "auto" else kind) == "text")  # fmt: skip
    return available_cpus() if text >= PARSE_POOL_MIN_BYTES else 1


def time_ordered(events: pa.Table) -> pa.Table:
    """``events`` sorted by ``ts_ms``, stably (ties keep their order); no copy when sorted."""
    ts = events.column("ts_ms").to_numpy()
    if len(ts) < 2 or bool((ts[1:] >= ts[:-1]).all()):
        return events
    return events.take(pa.array(np.argsort(ts, kind="stable")))


def spec_documents(
    spec_path: Path | None, n_activity: int, n_events: int
) -> list[tuple[str, dict]]:
    """(output suffix, spec JSON document) of each feature spec to run, for either engine.

    The given file (a spec, or an already fitted pipeline when it holds a fingerprint), else
    each built-in spec (activity, logs) whose filter keeps some of the events.
    """
    from streams.features import FeatureSpec, default_spec

    if spec_path is not None:
        text = spec_path.read_text()
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise InputFormatError(
                f"feature spec {spec_path}: expected JSON, got ({exc})"
            ) from None
        if not (isinstance(doc, dict) and "fingerprint" in doc):
            doc = FeatureSpec.from_json(text).model_dump(mode="json")  # validated here
        return [("", doc)]
    out = []
    if n_activity:
        out.append(("-activity", default_spec("activity").model_dump(mode="json")))
    if n_activity < n_events:
        out.append(("-logs", default_spec("logs").model_dump(mode="json")))
    return out


def _specs(
    events: pa.Table, spec_path: Path | None, target: str, early: _EarlyFit | None = None
) -> list[tuple[str, FittedPipeline]]:
    """(output suffix, FittedPipeline) for each feature spec to run; imported on use.

    ``early``: the specs fitted while reading, when the events came in time order."""
    from streams.features import FeaturePipeline, FeatureSpec, FittedPipeline

    is_activity = pc.equal(events.column("source"), SourceFormat.ACTIVITY.value)
    n_activity = pc.sum(is_activity).as_py() or 0
    out = []
    for suffix, doc in spec_documents(spec_path, n_activity, len(events)):
        if "fingerprint" in doc:  # an already fitted pipeline
            assert spec_path is not None
            out.append((suffix, FittedPipeline.load(spec_path, target)))
        else:
            fitted = early.fitted(suffix) if early is not None else None
            if fitted is None:
                fitted = FeaturePipeline(FeatureSpec.model_validate(doc), target).fit(events)
            out.append((suffix, fitted))
    return out


def _write_features(events: pa.Table, out: Path, spec_path: Path | None, target: str,
                    chunk_size: int, result: EtlResult, progress: bool | None,
                    size_bytes: int, early: _EarlyFit | None = None) -> None:  # fmt: skip
    specs = _specs(events, spec_path, target, early)
    with _progress(len(events) * len(specs), progress, size_bytes, "features", "ev") as bar:
        for suffix, fitted in specs:
            bar.set_description(f"features{suffix}")
            _write_one(events, out, suffix, fitted, chunk_size, result, bar)


_KEY_COLUMNS = ["event_id", "entity", "ts_ms"]


FEATURE_ENCODING = "float32le"
"""How a feature file's ``features`` column holds a vector (the ``feature_encoding`` schema
metadata): ``fixed_size_binary(4 * width)``, the float32 values little-endian, back to back, in
the order of ``feature_names``."""


def feature_table(fb_table: pa.Table) -> pa.Table:
    """A :meth:`FeatureBatch.to_arrow` table as feature files hold it: each vector as one
    fixed-size binary value of its float32 bytes (see :data:`FEATURE_ENCODING`; read them back
    with :func:`feature_matrix`). No copy on a little-endian machine.

    Parquet writes a fixed-size list with a repetition and a definition level per value:
    encoding those levels cost 2.7x the CPU of these same bytes as one binary value per row
    (5.6 against 2.1 CPU s per million 427-float vectors), and the files are as big."""
    vectors = fb_table.column("features").combine_chunks()
    width = vectors.type.list_size
    values = vectors.flatten().to_numpy().astype("<f4", copy=False)
    blob = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(4 * width), len(vectors), [None, pa.py_buffer(values)]
    )
    index = fb_table.schema.get_field_index("features")
    meta = {**(fb_table.schema.metadata or {}), b"feature_encoding": FEATURE_ENCODING.encode()}
    table = fb_table.set_column(index, pa.field("features", blob.type, nullable=False), blob)
    return table.replace_schema_metadata(meta)


def feature_matrix(table: pa.Table) -> np.ndarray:
    """The vectors of a feature file's table (:func:`feature_table`), float32 ``[rows, width]``;
    a view of the column's bytes when it is one chunk. Raises :class:`InputFormatError` when
    the ``features`` column is not :data:`FEATURE_ENCODING` vectors."""
    meta = table.schema.metadata or {}
    kind = table.schema.field("features").type if "features" in table.column_names else None
    if (meta.get(b"feature_encoding") != FEATURE_ENCODING.encode()
            or not pa.types.is_fixed_size_binary(kind) or kind.byte_width % 4):  # fmt: skip
        raise InputFormatError(
            f"feature table: expected a 'features' column of {FEATURE_ENCODING} vectors "
            f"(fixed_size_binary, feature_encoding metadata), got {kind} with encoding "
            f"{meta.get(b'feature_encoding')!r}"
        )
    width = kind.byte_width // 4
    blobs = table.column("features").combine_chunks()
    if not len(blobs):
        return np.zeros((0, width), dtype=np.float32)
    flat = np.frombuffer(blobs.buffers()[1], dtype="<f4", count=len(blobs) * width,
                         offset=blobs.offset * kind.byte_width)  # fmt: skip
    return flat.astype(np.float32, copy=False).reshape(len(blobs), width)


def feature_writer(where, schema: pa.Schema, filesystem=None) -> pq.ParquetWriter:
    """The Parquet writer of feature files, for both engines: dictionaries and statistics on
    the key columns only (trying a dictionary of millions of floats, then dropping it, was a
    third of ``etl``'s time)."""
    return pq.ParquetWriter(where, schema, filesystem=filesystem, use_dictionary=_KEY_COLUMNS[:2],
                            write_statistics=_KEY_COLUMNS)  # fmt: skip


def _write_one(events: pa.Table, out: Path, suffix: str, fitted: FittedPipeline,
               chunk_size: int, result: EtlResult, bar) -> None:  # fmt: skip
    """One fitted spec: save it, transform the events in time order with one state, in chunks."""
    feat_path = out / f"features{suffix}.parquet"
    result.outputs[f"pipeline{suffix}"] = fitted.save(out / f"pipeline{suffix}.json")
    state = fitted.new_state()
    writer = None
    rows = 0
    behind = _WriteBehind()  # chunk k is written while chunk k+1 is transformed
    ok = False
    try:
        for start in range(0, max(len(events), 1), chunk_size):
            fb = fitted.transform(events.slice(start, chunk_size), state)
            table = feature_table(fb.to_arrow())
            if writer is None:
                writer = feature_writer(feat_path, table.schema)
            behind.submit(writer.write_table, table)
            rows += len(fb)
            bar.update(min(chunk_size, len(events) - start))
        ok = True
    finally:
        try:
            behind.close(ok)
        finally:
            if writer is not None:
                writer.close()
    result.outputs[f"features{suffix}"] = feat_path
    result.feature_rows[f"features{suffix}"] = rows


def run_etl(
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    fmt: InputFormat | str = "auto",
    kind: FileKind = "auto",
    spec_path: str | os.PathLike[str] | None = None,
    options: ParseOptions | None = None,
    rejected_format: RejectedFormat = "jsonl",
    features: bool = True,
    kernel_target: str = "cpu",
    chunk_size: int = 65_536,
    progress: bool | None = None,
    parse_workers: int | None = None,
) -> EtlResult:
    """Run the offline ETL (see the module docstring); returns counts and output paths.

    ``progress=None`` shows a bar only for inputs over :data:`PROGRESS_MIN_BYTES`.
    ``parse_workers``: processes that parse text inputs (1: in this one); by default one per
    available CPU when the text inputs reach :data:`PARSE_POOL_MIN_BYTES` (see
    :func:`parse_worker_count`). The outputs are the same, byte for byte, whatever the number.
    Raises ``InputFormatError`` for a missing input or an unusable spec; bad lines are counted
    and written to the rejected file, never raised.
    """
    paths = [Path(p) for p in inputs]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InputFormatError(f"etl inputs: expected readable files, got missing {missing}")
    if rejected_format not in ("jsonl", "parquet"):
        raise InputFormatError(
            f"rejected format: expected jsonl or parquet, got {rejected_format!r}"
        )
    spec = Path(spec_path) if spec_path is not None else None
    if spec is not None and not spec.is_file():
        raise InputFormatError(f"feature spec: expected a JSON file, got missing {str(spec)!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = EtlResult()
    # Fit while reading one input only: separate files seldom come in time order one after
    # another (rotated logs are numbered newest first, shards overlap), and a fit abandoned
    # midway is wasted work.
    early = _EarlyFit(spec, kernel_target) if features and len(paths) == 1 else None
    batches = _read_inputs(paths, fmt, kind, options, out, rejected_format, chunk_size,
                           progress, result, workers=parse_workers, early=early)  # fmt: skip
    if features and batches:
        events = time_ordered(pa.Table.from_batches(batches, schema=EVENT_SCHEMA))
        size = sum(p.stat().st_size for p in paths)
        _write_features(events, out, spec, kernel_target, chunk_size, result, progress, size,
                        early)  # fmt: skip
    return result
