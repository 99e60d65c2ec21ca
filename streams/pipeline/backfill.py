"""Backfill scoring (``streamscore score``): history in files, scored as the workers score it.

The same steps as a worker's batch (:mod:`streams.pipeline.processor`): parse and validate
(:func:`~streams.etl.files.read_file`), featurise with the champions' fitted pipeline and one
window state per entity, call each champion once per batch. Offline, each entity's events are
taken in time order (a stable sort on ``ts_ms``, as ``streamscore etl`` does), and every score
row carries one ``scored_time_ms``: the start of the job.

Writes ``OUT/scores.parquet`` (:data:`SCORE_SCHEMA`: the ``ScoreBatch`` columns, one row per
event and champion that scores the event's entity kind), plus ``events.parquet`` and
``rejected.jsonl`` as ``streamscore etl`` does. :func:`score_batches` is what both engines run
(the Spark one in each task).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from schemas.columns import SCORE_FIELDS
from schemas.events import EVENT_SCHEMA, entity_kind_codes
from streams.errors import ConfigError
from streams.etl.errors import InputFormatError
from streams.etl.files import FileKind
from streams.etl.job import EtlResult, RejectedFormat, time_ordered
from streams.etl.types import InputFormat, ParseOptions

if TYPE_CHECKING:
    from streams.scoring import ModelSet
    from streams.settings import Settings

__all__ = ["SCORE_SCHEMA", "BackfillResult", "check_version", "run_score", "score_batches"]

SCORE_SCHEMA = pa.schema([
    ("event_id", pa.string()), ("entity", pa.string()), ("model_name", pa.string()),
    ("model_version", pa.string()), ("score", pa.float32()), ("decision", pa.bool_()),
    ("fallback", pa.bool_()), ("served_by", pa.string()), ("event_time_ms", pa.int64()),
    ("scored_time_ms", pa.int64()),
])  # fmt: skip
"""The ``ScoreBatch``/``ScoreResult`` fields (:data:`schemas.columns.SCORE_FIELDS`) as Arrow."""
assert tuple(SCORE_SCHEMA.names) == SCORE_FIELDS


@dataclass(slots=True)
class BackfillResult:
    """The ETL counts of the inputs, score rows per model, and the files written."""

    etl: EtlResult
    rows: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)


def check_version(settings: Settings, tasks: Sequence[str] | None, version: str | None) -> None:
    """Raise :class:`ConfigError` when a pinned ``version`` is missing for one of the tasks
    (the fallback chain would otherwise quietly serve the champion)."""
    if version is None:
        return
    from models.errors import ModelError
    from models.registry import TASKS, ModelRegistry

    registry = ModelRegistry.from_settings(settings)
    for task in tasks or [t for t in TASKS if registry.champion(t) is not None]:
        try:
            registry.get(task, version)
        except ModelError as exc:
            raise ConfigError(f"scoring with --version {version}: {exc}") from None


def score_batches(
    models: ModelSet, batches: Iterable[pa.RecordBatch | pa.Table], scored_ms: int
) -> Iterator[pa.Table]:
    """Score events (each entity's in time order, all of them in ``batches``) with every
    champion of ``models``, one call per model and batch, on the events of the entity kinds
    the model scores (as the workers do: a user model gives a host no score); one
    :data:`SCORE_SCHEMA` table per batch and model that scored rows. Shadows are not scored:
    a backfill publishes champions only."""
    pipeline = models.pipeline
    state = pipeline.new_state()
    for events in batches:
        fb = pipeline.transform(events, state)
        if not len(fb):
            continue
        kinds = entity_kind_codes(events)  # one row per event: a serving spec keeps them all
        for result in models.score(fb.X, kinds, shadows=False):
            rows = result.rows
            event_id, entity, ts_ms = fb.event_id, fb.entity, fb.ts_ms
            if rows is not None:  # the rows of the entity kinds the model scores
                if not len(rows):
                    continue
                take = pa.array(rows, pa.int64())
                event_id, entity, ts_ms = event_id.take(take), entity.take(take), ts_ms[rows]
            n = len(result.scores)
            cols = [
                event_id, entity,
                pa.repeat(pa.scalar(result.model_name, pa.string()), n),  # 40x np.full(object)
                pa.repeat(pa.scalar(result.model_version, pa.string()), n),
                pa.array(np.asarray(result.scores, np.float32)),
                pa.array(np.asarray(result.scores) >= result.threshold),
                pa.array(np.asarray(result.fallback, bool)),
                pa.array(list(result.served_by), pa.string()),
                pa.array(ts_ms, pa.int64()),
                pa.array(np.full(n, scored_ms, np.int64)),
            ]  # fmt: skip
            yield pa.Table.from_arrays(cols, schema=SCORE_SCHEMA)


def run_score(
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    settings: Settings,
    *,
    tasks: Sequence[str] | None = None,
    version: str | None = None,
    fmt: InputFormat | str = "auto",
    kind: FileKind = "auto",
    options: ParseOptions | None = None,
    rejected_format: RejectedFormat = "jsonl",
    chunk_size: int = 65_536,
    progress: bool | None = None,
) -> BackfillResult:
    """Score files with the registry's champions (or ``version``), local engine.

    Raises ``InputFormatError`` for missing inputs and :class:`ConfigError` when there is no
    champion or no such version; bad lines go to the rejected file, as in ``etl``.
    """
    from streams.etl.job import _read_inputs
    from streams.scoring import load_model_set

    paths = [Path(p) for p in inputs]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InputFormatError(f"score inputs: expected readable files, got missing {missing}")
    check_version(settings, tasks, version)
    models = load_model_set(settings, tasks, version)
    scored_ms = time.time_ns() // 1_000_000
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    etl = EtlResult()
    batches = _read_inputs(paths, fmt, kind, options, out, rejected_format, chunk_size,
                           progress, etl)  # fmt: skip
    result = BackfillResult(etl, outputs=dict(etl.outputs))
    events = time_ordered(pa.Table.from_batches(batches, schema=EVENT_SCHEMA))
    scores_path = out / "scores.parquet"
    with pq.ParquetWriter(scores_path, SCORE_SCHEMA) as writer:
        chunks = events.to_batches(max_chunksize=chunk_size)
        for table in score_batches(models, chunks, scored_ms):
            writer.write_table(table)
            name = table.column("model_name")[0].as_py()
            result.rows[name] = result.rows.get(name, 0) + table.num_rows
    result.outputs["scores"] = scores_path
    return result
