"""The feature pipeline: a :class:`FeatureSpec` planned into column blocks, fitted, applied.

Typical use (offline and online run the same code)::

    fitted = FeaturePipeline(default_spec(), target=settings.kernel_target).fit(table)
    fitted.save(settings.state_dir / "features" / "activity.json")
    state = fitted.new_state()
    for batch in batches:                  # in arrival order
        fb = fitted.transform(batch, state)  # fb.X float32 [n, d], fb.names, fb.event_id ...

Transforming one table or the same events split into batches (in the same order, with the same
state) gives bit-identical ``fb.X``: every step is row-local except the window kernel, which
applies events one at a time in arrival order.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import ValidationError

import kernels
from kernels import KernelTarget, resolve_target
from streams.features import _blocks
from streams.features._stats import FIT_CHUNK_ROWS, RunningStats
from streams.features._table_ops import apply_table_step, column
from streams.features.errors import FeatureInputError, FeatureSpecError, FingerprintError
from streams.features.spec import FeatureSpec, NormaliseStep, WindowStep
from streams.features.state import WindowState

__all__ = ["FeatureBatch", "FeaturePipeline", "FitPart", "FittedPipeline"]

FORMAT = 1
ENGINE = {
    "hash": "fnv1a64-xorfold32",
    "tokens": "ascii-alnum-lower-v1",
    "windows": "two-bucket-sliding-v1",
    "time": "utc-monday0-v1",
}
"""Versions of the algorithms behind the spec's words; part of the fingerprint, so changing
one (say, the hash) makes old models refuse the new features instead of silently skewing."""


@dataclass(frozen=True, slots=True)
class FeatureBatch:
    """Feature vectors of one batch: row ``i`` of ``X`` belongs to ``event_id[i]``."""

    X: np.ndarray
    names: tuple[str, ...]
    event_id: pa.Array
    entity: pa.Array
    ts_ms: np.ndarray
    fingerprint: str

    def __len__(self) -> int:
        return self.X.shape[0]

    def to_arrow(self) -> pa.Table:
        """``event_id, entity, ts_ms, features`` (fixed-size list of float32); the feature
        names and the fingerprint ride along in the schema metadata."""
        flat = pa.array(self.X.reshape(-1), type=pa.float32())
        features = pa.FixedSizeListArray.from_arrays(flat, len(self.names))
        meta = {"feature_names": json.dumps(self.names), "fingerprint": self.fingerprint}
        table = pa.table(
            {
                "event_id": self.event_id,
                "entity": self.entity,
                "ts_ms": pa.array(self.ts_ms, pa.int64()),
                "features": features,
            }
        )
        return table.replace_schema_metadata(meta)


@dataclass(slots=True)
class FitPart:
    """Normaliser statistics of part of the events (see :meth:`FeaturePipeline.fit_part`)."""

    stats: list[RunningStats]
    kept: int = 0  # events left after the filters
    seen: int = 0  # events given


@dataclass(frozen=True, slots=True)
class _Normaliser:
    method: str
    names: tuple[str, ...]
    cols: np.ndarray


class FeaturePipeline:
    """A spec planned into blocks of columns; :meth:`fit` it to get a :class:`FittedPipeline`.

    Raises :class:`FeatureSpecError` when names clash or a normalise pattern matches nothing.
    ``target`` is ``Settings.kernel_target`` (resolved here, once).
    """

    def __init__(self, spec: FeatureSpec, target: KernelTarget = "cpu") -> None:
        self.spec = spec
        self.target = resolve_target(target)
        self._blocks: list[tuple[int, Any, int]] = []  # (step index, step, first column)
        names: list[str] = []
        self.window_step: WindowStep | None = None
        for index, step in enumerate(spec.steps):
            if step.op in ("filter", "cast", "property", "normalise"):
                continue
            self._blocks.append((index, step, len(names)))
            names.extend(_blocks.block_names(step))
            if isinstance(step, WindowStep):
                self.window_step = step
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise FeatureSpecError(f"feature spec {spec.name!r}: duplicate feature names {dupes}")
        self.names: tuple[str, ...] = tuple(names)
        self._normalisers = self._plan_normalisers()

    @property
    def width(self) -> int:
        """Features per event (columns of ``X``)."""
        return len(self.names)

    def _plan_normalisers(self) -> list[_Normaliser]:
        claimed: set[str] = set()
        plan = []
        for index, step in enumerate(self.spec.steps):
            if not isinstance(step, NormaliseStep):
                continue
            picked = [
                n
                for n in self.names
                if n not in claimed and any(fnmatch.fnmatchcase(n, p) for p in step.columns)
            ]
            if not picked:
                raise FeatureSpecError(
                    f"feature spec {self.spec.name!r} step {index} (normalise): expected "
                    f"patterns {list(step.columns)} to match a feature not normalised before, "
                    "found none"
                )
            claimed.update(picked)
            cols = np.array([self.names.index(n) for n in picked], dtype=np.int64)
            plan.append(_Normaliser(step.method, tuple(picked), cols))
        return plan

    def new_state(self, capacity: int = 1024) -> WindowState | None:
        """Fresh window state (every entity unseen); None when the spec has no windows."""
        if self.window_step is None:
            return None
        return WindowState(_blocks.window_layout(self.window_step), capacity)

    def fit(self, events: pa.Table | pa.RecordBatch) -> FittedPipeline:
        """Fit the normalisers on ``events`` (window features computed from a fresh state).

        Featurises ``FIT_CHUNK_ROWS`` events at a time, so memory stays bounded however big
        the table. Statistics use finite values only and are exact (see
        :mod:`streams.features._stats`). Raises :class:`FeatureInputError` when no event is
        left after the filters.
        """
        table = _as_table(events)
        chunks = (table.slice(s, FIT_CHUNK_ROWS) for s in range(0, len(table), FIT_CHUNK_ROWS))
        return self.fit_parts([self.fit_part(chunks, self.new_state())])

    def fit_part(
        self, batches: Iterable[pa.Table | pa.RecordBatch], state: WindowState | None
    ) -> FitPart:
        """Normaliser statistics of some events, for :meth:`fit_parts`.

        ``batches`` in arrival order, all of each entity's events in the same part (the window
        features need them in order, with ``state`` carried through). Parts over disjoint sets
        of entities merge into exactly what :meth:`fit` gives on all the events.
        """
        part = FitPart([RunningStats(norm.cols) for norm in self._normalisers])
        for batch in batches:
            x, _ = self._features(_as_table(batch), state)
            part.seen += batch.num_rows
            part.kept += x.shape[0]
            for stats in part.stats:
                stats.add(x)
        return part

    def fit_parts(self, parts: Sequence[FitPart]) -> FittedPipeline:
        """Merge :meth:`fit_part` results into a :class:`FittedPipeline`."""
        total = FitPart([RunningStats(norm.cols) for norm in self._normalisers])
        for part in parts:
            total.seen += part.seen
            total.kept += part.kept
            for mine, theirs in zip(total.stats, part.stats, strict=True):
                mine.merge(theirs)
        if self._normalisers and total.kept == 0:
            raise FeatureInputError(
                f"fitting feature spec {self.spec.name!r}: expected events left after the "
                f"filters, found none of {total.seen}"
            )
        fitted = []
        for stats, norm in zip(total.stats, self._normalisers, strict=True):
            shift, scale = stats.shift_scale(norm.method)
            fitted.append(
                {"method": norm.method, "columns": list(norm.names), "shift": shift, "scale": scale}
            )
        return FittedPipeline(self, fitted)

    def _features(self, table: pa.Table, state: WindowState | None) -> tuple[np.ndarray, pa.Table]:
        """Run table and feature steps (not normalisers): raw ``X`` and the filtered table."""
        for index, step in enumerate(self.spec.steps):
            if step.op in ("filter", "cast", "property"):
                table = apply_table_step(table, step, f"{index} ({step.op})", self.target)
        wanted = None if self.window_step is None else _blocks.window_layout(self.window_step)
        if wanted is not None and (state is None or state.layout != wanted):
            raise FeatureInputError(
                f"feature spec {self.spec.name!r} has windows: expected the WindowState "
                "made by this pipeline's new_state(), got "
                f"{'None' if state is None else 'a state of another layout'}"
            )
        x = np.zeros((len(table), self.width), dtype=np.float32)
        for index, step, col0 in self._blocks:
            _blocks.write_block(step, table, x, col0, state, self.target, f"{index} ({step.op})")
        return x, table


class FittedPipeline:
    """A pipeline with fitted normalisers: transforms batches; saved and loaded as JSON."""

    def __init__(self, pipeline: FeaturePipeline, stats: list[dict[str, Any]]) -> None:
        planned = [(n.method, list(n.names)) for n in pipeline._normalisers]
        given = [(s.get("method"), s.get("columns")) for s in stats]
        lengths_ok = all(
            len(s.get("shift", ())) == len(s.get("scale", ())) == len(s.get("columns") or ())
            for s in stats
        )
        if planned != given or not lengths_ok:
            raise FeatureSpecError(
                f"feature spec {pipeline.spec.name!r}: expected statistics for normalisers "
                f"{[(m, len(c)) for m, c in planned]}, got "
                f"{[(m, len(c or ())) for m, c in given]} (lengths consistent: {lengths_ok})"
            )
        self._pipeline = pipeline
        self.stats = stats
        self._shift = [np.asarray(s["shift"], dtype=np.float64) for s in stats]
        self._scale = [np.asarray(s["scale"], dtype=np.float64) for s in stats]
        self.fingerprint = _fingerprint(pipeline.spec, pipeline.names, stats)

    @property
    def spec(self) -> FeatureSpec:
        return self._pipeline.spec

    @property
    def names(self) -> tuple[str, ...]:
        """Feature names, one per column of ``X``."""
        return self._pipeline.names

    @property
    def target(self) -> str:
        return self._pipeline.target

    def new_state(self, capacity: int = 1024) -> WindowState | None:
        """Fresh window state for :meth:`transform`; None when the spec has no windows."""
        return self._pipeline.new_state(capacity)

    def transform(
        self, events: pa.Table | pa.RecordBatch, state: WindowState | None
    ) -> FeatureBatch:
        """Feature vectors of ``events`` (rows kept by the filters, in order).

        1. table steps (filter, cast, property) rewrite the batch;
        2. feature steps write their column blocks; the windows step applies the events to
           ``state`` in arrival order and reads each entity's features just after its event;
        3. normalisers scale their columns with the fitted statistics.

        Raises :class:`FeatureInputError` for a missing column, a null entity/time or a state
        that is not this pipeline's.
        """
        table = _as_table(events)
        x, table = self._pipeline._features(table, state)
        for norm, shift, scale in zip(
            self._pipeline._normalisers, self._shift, self._scale, strict=True
        ):
            kernels.normalise(x, norm.cols, shift, scale, target=self.target)
        return FeatureBatch(
            X=x,
            names=self.names,
            event_id=column(table, "event_id", "output"),
            entity=column(table, "entity", "output"),
            ts_ms=column(table, "ts_ms", "output").to_numpy(zero_copy_only=False),
            fingerprint=self.fingerprint,
        )

    def describe(self) -> dict[str, Any]:
        """Everything the fingerprint covers, as plain JSON values."""
        return {
            "format": FORMAT,
            "engine": ENGINE,
            "spec": self.spec.model_dump(mode="json"),
            "names": list(self.names),
            "stats": self.stats,
            "fingerprint": self.fingerprint,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write spec, statistics and fingerprint as JSON (atomically); return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.describe(), indent=1, allow_nan=False) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], target: KernelTarget = "cpu") -> FittedPipeline:
        """Read a saved pipeline, checking its fingerprint against its content.

        Raises :class:`FeatureSpecError` for a malformed file and :class:`FingerprintError`
        when the stored fingerprint does not match (edited file, or other engine version).
        """
        try:
            doc = json.loads(Path(path).read_text())
            if doc.get("format") != FORMAT:
                raise FeatureSpecError(
                    f"loading feature pipeline {path}: expected format {FORMAT}, "
                    f"got {doc.get('format')!r}"
                )
            spec = FeatureSpec.model_validate(doc["spec"])
            stats = doc["stats"]
        except (OSError, json.JSONDecodeError, KeyError, ValidationError) as exc:
            raise FeatureSpecError(f"loading feature pipeline {path}: {exc}") from exc
        fitted = cls(FeaturePipeline(spec, target), stats)
        if doc.get("fingerprint") != fitted.fingerprint or doc.get("engine") != ENGINE:
            raise FingerprintError(
                f"loading feature pipeline {path}: expected fingerprint "
                f"{doc.get('fingerprint')!r} (engine {doc.get('engine')}), recomputed "
                f"{fitted.fingerprint!r} (engine {ENGINE})"
            )
        return fitted


def _as_table(events: pa.Table | pa.RecordBatch) -> pa.Table:
    if isinstance(events, pa.RecordBatch):
        return pa.Table.from_batches([events])
    if isinstance(events, pa.Table):
        return events
    raise FeatureInputError(
        f"featurising events: expected a pyarrow Table or RecordBatch, got {type(events)}"
    )


def _fingerprint(spec: FeatureSpec, names: tuple[str, ...], stats: list[dict[str, Any]]) -> str:
    doc = {
        "format": FORMAT,
        "engine": ENGINE,
        "spec": spec.model_dump(mode="json"),
        "names": list(names),
        "stats": stats,
    }
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
