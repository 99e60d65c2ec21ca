"""Batched scoring with a fallback chain: champion, previous champion, then the baseline.

A :class:`ModelScorer` is one loaded model with its chosen engine, warmed up at load so the
first real batch pays no tracing or allocation. A :class:`FallbackScorer` walks the registry's
chain; a candidate that fails to load is skipped for good, one that raises (or returns NaN or
the wrong shape) on a batch is skipped for that batch; every result says who served it.

A candidate whose model loads but whose optional artifact does not (a corrupt LiteRT export)
is not skipped: it serves with the engine it has, marked ``degraded`` (logged at load, carried
by every :class:`ScoreResult` and by :attr:`FallbackScorer.degraded`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.contract import ScoringModel, check_features
from models.errors import FeatureMismatchError, ModelError, ScoringError
from models.serving.engines import EngineName, choose_engine

__all__ = ["FallbackScorer", "ModelScorer", "ScoreResult"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoreResult:
    """Scores (float32 [n] probabilities) and which model actually produced them."""

    scores: np.ndarray
    task: str
    version: str
    kind: str
    engine: str
    fallback_level: int  # 0 champion, 1 previous champion, 2 baseline (as planned)
    errors: tuple[str, ...] = field(default=())
    degraded: str | None = None  # why the serving model runs without an optional artifact


class ModelScorer:
    """One model, its engine, and a warm-up at construction."""

    def __init__(
        self,
        model: ScoringModel,
        artifact_dir: Path | None = None,
        *,
        engine: EngineName = "auto",
        label: str = "",
        warmup_sizes=(1, 64, 1024),
    ):
        self.model = model
        self.label = label
        self.names = tuple(model.feature_names)
        self.engine, self.engine_report = choose_engine(model, artifact_dir, engine)
        self.degraded: str | None = self.engine_report.get("degraded")
        d = len(self.names)
        for rows in warmup_sizes:
            self.engine(np.zeros((rows, d), dtype=np.float32))

    def score(self, X: np.ndarray, names: Sequence[str] | None = None) -> np.ndarray:
        """Probabilities for ``X`` float32 [n, d]; ``names``, if given, must match the model's.

        Raises FeatureMismatchError for other columns, ScoringError for a bad output.
        """
        if names is not None and tuple(names) != self.names:
            check_features(self.names, names)
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != len(self.names):
            check_features(self.names, [f"#{i}" for i in range(X.shape[-1])])
        if X.shape[0] == 0:
            return np.zeros(0, dtype=np.float32)
        out = self.engine(X)
        if out.shape != (X.shape[0],) or not np.isfinite(out).all():
            raise ScoringError(
                f"scoring with {self.label or self.model.kind}: expected {X.shape[0]} finite "
                f"probabilities, got shape {out.shape} with {int((~np.isfinite(out)).sum())} "
                "non-finite"
            )
        return out


class FallbackScorer:
    """Scores a task with the first working candidate of the registry's fallback chain."""

    def __init__(
        self,
        registry,
        task: str,
        *,
        version: str | None = None,
        fingerprint: str | None = None,
        engine: EngineName = "auto",
    ) -> None:
        """Load the chain for ``task``: ``version`` (default: the champion), then the previous
        champion (or the champion, when ``version`` is a challenger in shadow), then the
        primary version's baseline. Each model is checked against ``fingerprint`` if given,
        gets its engine chosen by measurement, and is warmed up."""
        self.task = task
        self.errors: list[str] = []
        self._registry, self._fingerprint, self._engine = registry, fingerprint, engine
        self._chain: list[tuple[int, str, str, str, ModelScorer]] = []
        champ = registry.champion(task)
        if champ is None:
            raise ModelError(f"scoring {task}: expected a champion in the registry, found none")
        self._pinned = version
        primary = version or champ.version
        second = registry.previous_champion(task) if version is None else champ
        plan = [(0, primary, "model")]
        if second is not None and second.version != primary:
            plan.append((1, second.version, "model"))
        plan.append((2, primary, "baseline"))
        self.champion_version = champ.version
        for level, version, part in plan:
            label = f"{task}/{version}/{part}"
            try:
                model = registry.load(task, version, fingerprint=fingerprint, part=part)
                scorer = ModelScorer(
                    model, registry.get(task, version).path / part, engine=engine, label=label
                )
                if scorer.degraded:
                    _log.warning("%s serves degraded: %s", label, scorer.degraded)
                self._chain.append((level, version, part, scorer.engine_report["engine"], scorer))
            except ModelError as exc:
                self.errors.append(f"{label}: {exc}")
            except Exception as exc:  # a broken artifact must not stop the worker
                self.errors.append(f"{label}: {exc!r}")
        if not self._chain:
            raise ModelError(
                f"scoring {task}: no model of the chain loaded: " + " | ".join(self.errors)
            )

    def refresh(self) -> bool:
        """Reload the chain if the registry's champion changed (hot swap between batches).
        Returns True when it reloaded. The old chain keeps serving if the new one fails."""
        champ = self._registry.champion(self.task)
        if self._pinned is not None or champ is None or champ.version == self.champion_version:
            return False
        fresh = FallbackScorer(
            self._registry, self.task, fingerprint=self._fingerprint, engine=self._engine
        )
        self.__dict__.update(fresh.__dict__)
        return True

    def describe(self) -> dict:
        """The loaded chain with engines and their measurements, and load errors."""
        return {
            "task": self.task,
            "champion": self.champion_version,
            "chain": [
                {
                    "level": lvl,
                    "version": v,
                    "part": p,
                    "kind": s.model.kind,
                    "engine": s.engine_report,
                }
                for lvl, v, p, _, s in self._chain
            ],
            "load_errors": list(self.errors),
        }

    @property
    def degraded(self) -> dict[str, str]:
        """``{"<version>/<part>": why}`` for loaded candidates serving without an optional
        artifact (empty when all are whole)."""
        return {f"{v}/{p}": s.degraded for _, v, p, _, s in self._chain if s.degraded}

    @property
    def served_by(self) -> list[str]:
        """Loaded candidates in fallback order, e.g. ``['v0003/model', 'v0003/baseline']``."""
        return [f"{v}/{p}" for _, v, p, _, _ in self._chain]

    @property
    def names(self) -> tuple[str, ...]:
        return self._chain[0][4].names

    def score(self, X: np.ndarray, names: Sequence[str] | None = None) -> ScoreResult:
        """Score one batch; falls through the chain on errors. Raises ModelError only when
        every candidate failed (or FeatureMismatchError when the columns are wrong)."""
        errors: list[str] = []
        for level, version, part, engine, scorer in self._chain:
            try:
                scores = scorer.score(X, names)
            except FeatureMismatchError:  # wrong columns: the caller's bug, not the model's
                raise
            except Exception as exc:
                errors.append(f"{self.task}/{version}/{part}: {exc!r}")
                continue
            return ScoreResult(
                scores,
                self.task,
                version,
                scorer.model.kind,
                engine,
                level,
                tuple(self.errors + errors),
                scorer.degraded,
            )
        raise ModelError(f"scoring {self.task}: every model failed: " + " | ".join(errors))
