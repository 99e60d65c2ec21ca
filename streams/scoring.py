"""The models a worker scores with, and the feature pipeline they were trained on.

A :class:`ModelSet` is what the stream layer needs from the model side: featurise a batch of
normalised events (window state from and back to a per-entity store), call each model once on the
feature matrix, and describe what the models saw as a feature snapshot for retraining.

It sits below both of its users: the stream pipeline (:mod:`streams.pipeline`) scores every batch
with one, and continuous learning (:mod:`streams.learning.swap`) loads and hot-swaps them.

Each served model declares the entity kinds it scores (``ServedModel.entity_kinds``, from its
registry version: users for churn and upsell). :meth:`ModelSet.score` calls a model only on the
rows whose entity is of one of its kinds, chosen with one vectorised mask per batch and kind
set (:func:`kind_rows`); the other rows get no score from it (by design, not a loss: they are
featurised, kept in the window state and the snapshots, and counted as not scored).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.events import ENTITY_KINDS
from streams.errors import ConfigError
from streams.features import FeatureBatch, FittedPipeline
from streams.features.rows import decode_rows, encode_rows
from streams.settings import Settings

__all__ = ["Features", "ModelSet", "ScoredBatch", "ServedModel", "kind_rows", "load_model_set"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScoredBatch:
    """One model's scores for a batch. ``served_by``/``fallback`` say who actually scored.

    ``rows`` are the batch rows scored (int64, ascending), ``None`` for every row: a model
    scores only the rows whose entity kind it declares. ``scores``, ``served_by`` and
    ``fallback`` have one entry per scored row.
    """

    model_name: str
    model_version: str
    threshold: float
    scores: np.ndarray  # float32 [m]
    served_by: Sequence[str]  # [m] "name@version" (or "baseline")
    fallback: np.ndarray  # bool [m]
    shadow: bool = False  # a challenger's scores: into the snapshot, never onto `scores`
    rows: np.ndarray | None = None  # int64 [m] batch rows scored; None: all of them


class ServedModel(Protocol):
    """A model behind its fallback chain, as the stream layer calls it (once per batch)."""

    name: str
    entity_kinds: tuple[str, ...]  # the EntityKind values it scores

    def score_batch(self, X: np.ndarray, names: Sequence[str]) -> ScoredBatch: ...

    def warm_up(self, width: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Features:
    """A batch's features and the window-state rows of its entities after the batch."""

    batch: FeatureBatch
    state_rows: dict[str, bytes]

    @property
    def X(self) -> np.ndarray:
        return self.batch.X


@dataclass
class ModelSet:
    """The fitted feature pipeline and the served models of one worker.

    ``shadows`` are challengers scored on the same batches without publishing their scores as
    results: their scores go into the feature snapshot (``shadow.<task>@<version>`` columns),
    where the retraining job compares them with the champion on the same events.
    """

    pipeline: FittedPipeline
    models: list[ServedModel]
    shadows: list[ServedModel] = field(default_factory=list)
    degraded: dict[tuple[str, str], str] = field(default_factory=dict)
    """(task, "version/part") -> why, for champions' chain candidates that serve without an
    optional artifact (a corrupt LiteRT export); exported as ``streamscore_model_degraded``."""
    _schemas: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def featurise(self, events: pa.RecordBatch, state: Mapping[str, bytes]) -> Features:
        """Features of ``events`` in arrival order; reads and returns the entities' state rows
        (:mod:`streams.features.rows` format; plain float64 rows are read too)."""
        entities = pc.unique(events.column("entity")).to_pylist()
        # Room for the batch's entities and the zero row export_rows uses: no regrowth.
        window = self.pipeline.new_state(capacity=len(entities) + 1)
        if window is None:  # a spec without windows keeps no state
            return Features(self.pipeline.transform(events, None), {})
        get = state.get
        window.import_rows(entities, decode_rows([get(e) for e in entities], window.row_width))
        batch = self.pipeline.transform(events, window)
        after = window.export_rows(entities)
        return Features(batch, dict(zip(entities, encode_rows(after), strict=True)))

    def score(
        self, X: np.ndarray, kinds: np.ndarray | None = None, *, shadows: bool = True
    ) -> list[ScoredBatch]:
        """Each model once on the rows of its entity kinds; then each shadow (unless
        ``shadows`` is off), whose failure only logs. ``kinds`` is each row's entity kind code
        (:func:`schemas.events.entity_kind_codes`); ``None`` scores every row with every
        model. A model with no row of its kinds in the batch is called on zero rows."""
        names = self.pipeline.names
        picked: dict[tuple[str, ...], np.ndarray | None] = {}  # one mask per kind set

        def call(model: ServedModel) -> ScoredBatch:
            if kinds is None:
                return model.score_batch(X, names)
            key = tuple(model.entity_kinds)
            if key not in picked:
                picked[key] = kind_rows(kinds, key)
            rows = picked[key]
            if rows is None:
                return model.score_batch(X, names)
            return replace(model.score_batch(X[rows], names), rows=rows)

        scored = [call(model) for model in self.models]
        for shadow in self.shadows if shadows else ():
            try:
                scored.append(replace(call(shadow), shadow=True))
            except Exception as exc:
                _log.warning("shadow %s failed on a batch: %r", shadow.name, exc)
        return scored

    def snapshot(
        self,
        features: Features,
        scored: list[ScoredBatch],
        now_ms: int,
        start: int = 0,
        stop: int | None = None,
        rows: np.ndarray | None = None,
    ) -> bytes:
        """Arrow IPC stream of what the models saw for rows ``start:stop`` (or the row indices
        ``rows``): ids, time, feature vector, every score (null where a model does not score
        the row's entity kind).

        Schema metadata carries the feature names, the pipeline fingerprint and the model
        versions, so a retraining job can join it with delayed outcomes and check it matches.
        The stream is the cached schema message, one record batch message and the end marker;
        the feature block is handed to Arrow without a copy when the rows are contiguous.
        """
        batch = features.batch
        if rows is None:
            stop = len(batch) if stop is None else stop
            pick = slice(start, stop)
            count = stop - start
        else:
            pick = rows
            count = len(rows)
        schema, head = self._snapshot_schema(batch, scored)
        flat = pa.array(np.ascontiguousarray(batch.X[pick]).reshape(-1), type=pa.float32())
        columns = [
            _take(batch.event_id, pick),
            _take(batch.entity, pick),
            pa.array(batch.ts_ms[pick], pa.int64()),
            pa.FixedSizeListArray.from_arrays(flat, len(batch.names)),
            *(_score_column(s, pick, count) for s in scored),
            pa.array(np.full(count, now_ms, np.int64)),
        ]
        record = pa.RecordBatch.from_arrays(columns, schema=schema)
        return b"".join((head, record.serialize(), _IPC_END))  # one copy of the batch

    def _snapshot_schema(
        self, batch: FeatureBatch, scored: list[ScoredBatch]
    ) -> tuple[pa.Schema, bytes]:
        """The snapshot schema for this model set and its serialized IPC message (cached)."""
        key = (
            batch.names,
            batch.fingerprint,
            batch.event_id.type,
            batch.entity.type,
            tuple((s.model_name, s.model_version, s.shadow) for s in scored),
        )
        cached = self._schemas.get(key)
        if cached is not None:
            return cached
        fields = [
            pa.field("event_id", batch.event_id.type),
            pa.field("entity", batch.entity.type),
            pa.field("ts_ms", pa.int64()),
            pa.field("features", pa.list_(pa.float32(), len(batch.names))),
        ]
        for s in scored:
            name = (
                f"shadow.{s.model_name}@{s.model_version}" if s.shadow else f"score.{s.model_name}"
            )
            fields.append(pa.field(name, pa.float32()))
        fields.append(pa.field("scored_ms", pa.int64()))
        meta = {
            b"feature_names": json.dumps(batch.names).encode(),
            b"fingerprint": batch.fingerprint.encode(),
            b"models": json.dumps(
                {s.model_name: s.model_version for s in scored if not s.shadow}
            ).encode(),
        }
        schema = pa.schema(fields, metadata=meta)
        if len(self._schemas) > 16:  # model versions come and go: keep the recent ones
            self._schemas.clear()
        cached = self._schemas[key] = (schema, schema.serialize().to_pybytes())
        return cached

    def warm_up(self) -> None:
        """Compile kernels and trace models before the first event arrives."""
        for model in [*self.models, *self.shadows]:
            model.warm_up(len(self.pipeline.names))


class _TaskScorer:
    """A task's champion behind the registry's fallback chain, in the stream layer's shape."""

    def __init__(
        self,
        scorer,
        task: str,
        threshold: float = 0.5,
        version: str | None = None,
        *,
        entity_kinds: Sequence[str],
    ):
        self.name = task
        self.entity_kinds = tuple(entity_kinds)
        self._scorer = scorer
        self._threshold = threshold
        self._version = version  # a pinned (challenger) version; None: the champion

    def score_batch(self, X: np.ndarray, names: Sequence[str]) -> ScoredBatch:
        result = self._scorer.score(X, names)
        n = len(result.scores)
        served = f"{self.name}@{result.version}"
        if result.kind == "logistic" and result.fallback_level == 2:
            served += "/baseline"
        return ScoredBatch(
            model_name=self.name,
            model_version=self._version or self._scorer.champion_version,
            threshold=self._threshold,
            scores=result.scores,
            served_by=[served] * n,
            fallback=np.full(n, result.fallback_level > 0),
        )

    def warm_up(self, width: int) -> None:
        self._scorer.score(np.zeros((1, width), np.float32))


_IPC_END = b"\xff\xff\xff\xff\x00\x00\x00\x00"
"""The Arrow IPC stream's end-of-stream marker (continuation token, zero length)."""


def kind_rows(kinds: np.ndarray, scored: Sequence[str]) -> np.ndarray | None:
    """The rows (int64, ascending) whose entity kind code (``kinds``, uint8 [n]) is one of the
    ``scored`` kind names; ``None`` when every row is (the usual batch: no copy needed).
    One vectorised lookup per call, no per-row Python."""
    allowed = np.zeros(len(ENTITY_KINDS), bool)
    allowed[[ENTITY_KINDS.index(k) for k in scored]] = True
    mask = allowed[kinds]
    return None if mask.all() else np.flatnonzero(mask)


def _score_column(s: ScoredBatch, pick: slice | np.ndarray, count: int) -> pa.Array:
    """A model's scores for the snapshot rows ``pick``: null where it did not score the row."""
    if s.rows is None:
        return pa.array(s.scores[pick], pa.float32())
    if not len(s.rows):
        return pa.nulls(count, pa.float32())
    wanted = np.arange(pick.start, pick.stop) if isinstance(pick, slice) else np.asarray(pick)
    at = np.minimum(np.searchsorted(s.rows, wanted), len(s.rows) - 1)
    hit = s.rows[at] == wanted
    return pa.array(np.where(hit, s.scores[at], np.nan).astype(np.float32), mask=~hit)


def _take(values: pa.Array, pick: slice | np.ndarray) -> pa.Array:
    if isinstance(pick, slice):
        return values.slice(pick.start, pick.stop - pick.start)
    return values.take(pa.array(pick, pa.int64()))


def load_model_set(
    settings: Settings, models: Sequence[str] | None = None, version: str | None = None
) -> ModelSet:
    """The champions of ``models`` (default: every task with a champion) from the registry;
    with ``version``, that version of each task instead (backfill scoring), without shadows.

    All of them must share one feature pipeline (the same fingerprint): the worker featurises
    each batch once. Raises :class:`~streams.errors.ConfigError` when there is no champion, a
    named task has none, or two champions were trained on different pipelines.
    """
    from models.registry import TASKS, ModelRegistry
    from models.serving import FallbackScorer

    registry = ModelRegistry.from_settings(settings)
    tasks = list(models) if models else [t for t in TASKS if registry.champion(t) is not None]
    if not tasks:
        raise ConfigError(
            f"no champion model in the registry at {registry.root}; train one first "
            "(`streamscore train`, or `make demo` which trains them)"
        )
    pipeline: FittedPipeline | None = None
    scorers: list[ServedModel] = []
    shadows: list[ServedModel] = []
    degraded: dict[tuple[str, str], str] = {}
    for task in tasks:
        champion = registry.champion(task)
        if champion is None:
            raise ConfigError(f"model {task!r}: expected a champion in {registry.root}, found none")
        task_pipeline = registry.load_pipeline(task, version or champion.version)
        if pipeline is None:
            pipeline = task_pipeline
        elif task_pipeline.fingerprint != pipeline.fingerprint:
            raise ConfigError(
                f"models {tasks[0]!r} and {task!r} were trained on different feature pipelines "
                f"({pipeline.fingerprint[:12]} vs {task_pipeline.fingerprint[:12]}); a worker "
                "scores with one pipeline: retrain them together or run them on separate workers"
            )
        if any(step.op == "filter" for step in task_pipeline.spec.steps):
            raise ConfigError(
                f"model {task!r}: its feature spec filters events out, so some events would get "
                "no score; a serving spec must keep every event"
            )
        fallback = FallbackScorer(registry, task, version=version,
                                  fingerprint=pipeline.fingerprint)  # fmt: skip
        kinds = registry.get(task, version or champion.version).entity_kinds
        scorers.append(_TaskScorer(fallback, task, version=version, entity_kinds=kinds))
        degraded.update({(task, served): why for served, why in fallback.degraded.items()})
        for info in [] if version else registry.versions(task):
            if info.status != "challenger":
                continue
            if info.fingerprint != pipeline.fingerprint:
                _log.warning(
                    "challenger %s/%s uses another feature pipeline; not shadowed",
                    task,
                    info.version,
                )
                continue
            pinned = FallbackScorer(
                registry, task, version=info.version, fingerprint=pipeline.fingerprint
            )
            shadows.append(
                _TaskScorer(pinned, task, version=info.version, entity_kinds=info.entity_kinds)
            )
    assert pipeline is not None
    return ModelSet(pipeline, scorers, shadows, degraded)
