"""The one contract every model kind obeys: fit, score a batch, save, load, describe.

A model is trained on named feature columns from one fitted feature pipeline. It remembers the
names (in order) and the pipeline's fingerprint; scoring checks the names, loading checks the
fingerprint. Scores are probabilities of the positive label, float32, one per row.

A model also declares the entity kinds it scores (:attr:`ScoringModel.entity_kinds`, a tuple
of :class:`schemas.events.EntityKind`): the pipeline calls it only on the events whose entity
is of one of them (a user model says nothing about a host). A ``model.json`` written before the
field existed reads as :data:`DEFAULT_ENTITY_KINDS` (users: every task we train, churn and
upsell, is about users).
"""

from __future__ import annotations

import json
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from models.errors import FeatureMismatchError, FingerprintMismatchError, ModelLoadError
from schemas.events import EntityKind, parse_entity_kinds

__all__ = [
    "DEFAULT_ENTITY_KINDS",
    "FitReport",
    "ScoringModel",
    "check_entity_kinds",
    "check_features",
    "finite",
    "read_meta",
    "write_json_atomic",
]

META_FILE = "model.json"

DEFAULT_ENTITY_KINDS: tuple[EntityKind, ...] = (EntityKind.USER,)
"""The kinds a model scores when its metadata names none (a model saved before models declared
them, a registry version without the field): users, what churn and upsell are about."""


def check_entity_kinds(values: Any, where: str = "model entity kinds") -> tuple[EntityKind, ...]:
    """``values`` as a tuple of :class:`EntityKind`; :class:`ModelLoadError` saying what was
    expected and found when it is not a non-empty list of known kind names."""
    try:
        return parse_entity_kinds(values, where)
    except ValueError as exc:
        raise ModelLoadError(str(exc)) from None


@dataclass(frozen=True)
class FitReport:
    """What happened during fit: epochs run, best validation loss (None without validation)."""

    epochs: int
    best_val_loss: float | None
    history: dict[str, list[float]] = field(default_factory=dict)


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, +-inf) inside dicts, lists and tuples
    replaced by ``None``: what strict JSON (RFC 8259) can carry. An undefined metric (the AUC
    of a one-class set) is NaN in Python and ``null`` on disk and on Kafka."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write strict JSON (non-finite numbers as ``null``, see :func:`finite`) to a temporary
    sibling then rename it over ``path`` (crash-safe)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        json.dump(finite(obj), fh, indent=2, sort_keys=True, allow_nan=False)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_meta(path: Path) -> dict[str, Any]:
    """The ``model.json`` of a saved model directory; :class:`ModelLoadError` if unreadable."""
    meta_path = Path(path) / META_FILE
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"loading model metadata {meta_path}: expected a readable JSON file, got {exc!r}"
        ) from exc
    for key in ("kind", "feature_names", "fingerprint"):
        if key not in meta:
            raise ModelLoadError(f"loading model metadata {meta_path}: missing key {key!r}")
    return meta


def check_features(expected: Sequence[str], found: Sequence[str], what: str = "scoring") -> None:
    """Raise :class:`FeatureMismatchError` unless ``found`` equals ``expected`` (same order)."""
    expected, found = tuple(expected), tuple(found)
    if expected == found:
        return
    missing = [n for n in expected if n not in set(found)]
    extra = [n for n in found if n not in set(expected)]
    parts = []
    if missing:
        parts.append(f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    if extra:
        parts.append(f"extra {extra[:5]}{' ...' if len(extra) > 5 else ''}")
    if not parts:
        first = next(i for i, (a, b) in enumerate(zip(expected, found, strict=True)) if a != b)
        parts.append(f"reordered: column {first} is {found[first]!r}, expected {expected[first]!r}")
    raise FeatureMismatchError(
        f"{what}: expected the {len(expected)} feature columns the model was trained on, "
        f"got {len(found)} columns: " + "; ".join(parts)
    )


class ScoringModel(ABC):
    """Base of every model kind. Subclasses set ``kind`` and implement the abstract methods."""

    kind: ClassVar[str]

    def __init__(self) -> None:
        self.feature_names: tuple[str, ...] = ()
        self.fingerprint: str = ""
        self.entity_kinds: tuple[EntityKind, ...] = DEFAULT_ENTITY_KINDS
        """The entity kinds this model scores (set before :meth:`save`; read by :meth:`load`)."""

    # -- the contract -------------------------------------------------------------------
    @abstractmethod
    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        names: Sequence[str],
        fingerprint: str,
        X_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
    ) -> FitReport:
        """Train on ``X`` float32 [n, d] (columns ``names``) and labels ``y`` in {0, 1}."""

    def score(self, X: np.ndarray, names: Sequence[str]) -> np.ndarray:
        """Probabilities float32 [n] for ``X`` [n, d]; raises FeatureMismatchError on bad names."""
        check_features(self.feature_names, names)
        X = self._check_matrix(X)
        return self._score(X)

    def save(self, path: Path) -> None:
        """Write the model into directory ``path`` (created); ``model.json`` is written last."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._save_artifacts(path)
        meta = {
            "kind": self.kind,
            "feature_names": list(self.feature_names),
            "fingerprint": self.fingerprint,
            "entity_kinds": [k.value for k in self.entity_kinds],
            "params": self._params_dict(),
        }
        write_json_atomic(path / META_FILE, meta)

    @classmethod
    def load(cls, path: Path, *, fingerprint: str | None = None) -> ScoringModel:
        """Load a model saved by :meth:`save`.

        Raises FingerprintMismatchError when ``fingerprint`` is given and differs from the
        one the model was trained with, ModelLoadError when files are missing or corrupt.
        """
        meta = read_meta(path)
        if meta["kind"] != cls.kind:
            raise ModelLoadError(
                f"loading {path}: expected kind {cls.kind!r}, got {meta['kind']!r}"
            )
        check_fingerprint(meta["fingerprint"], fingerprint, path)
        model = cls._from_params(meta.get("params", {}))
        model.feature_names = tuple(meta["feature_names"])
        model.fingerprint = meta["fingerprint"]
        model.entity_kinds = check_entity_kinds(
            meta.get("entity_kinds", DEFAULT_ENTITY_KINDS), f"loading {path}: entity_kinds"
        )
        try:
            model._load_artifacts(Path(path))
        except ModelLoadError:
            raise
        except Exception as exc:  # corrupt files raise anything from numpy/keras/zip
            raise ModelLoadError(f"loading {cls.kind} model from {path}: {exc!r}") from exc
        return model

    def describe(self) -> dict[str, Any]:
        """Plain-JSON summary: kind, hyper-parameters, feature count, fingerprint, the entity
        kinds it scores."""
        return {
            "kind": self.kind,
            "params": self._params_dict(),
            "n_features": len(self.feature_names),
            "fingerprint": self.fingerprint,
            "entity_kinds": [k.value for k in self.entity_kinds],
        }

    # -- for subclasses ------------------------------------------------------------------
    def _begin_fit(self, X, y, names, fingerprint) -> tuple[np.ndarray, np.ndarray]:
        self.feature_names = tuple(names)
        self.fingerprint = fingerprint
        X = self._check_matrix(X)
        y = np.asarray(y).reshape(-1)
        if y.shape[0] != X.shape[0] or not np.isin(y, (0, 1)).all():
            raise ValueError(
                f"fit {self.kind}: expected {X.shape[0]} labels in {{0, 1}}, got shape {y.shape} "
                f"with values {np.unique(y)[:5]}"
            )
        return X, y.astype(np.float32)

    def _check_matrix(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise FeatureMismatchError(
                f"{self.kind}: expected a 2-D batch with {len(self.feature_names)} columns, "
                f"got shape {X.shape}"
            )
        return np.ascontiguousarray(X, dtype=np.float32)

    @abstractmethod
    def _score(self, X: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _save_artifacts(self, path: Path) -> None: ...

    @abstractmethod
    def _load_artifacts(self, path: Path) -> None: ...

    @abstractmethod
    def _params_dict(self) -> dict[str, Any]: ...

    @classmethod
    @abstractmethod
    def _from_params(cls, params: dict[str, Any]) -> ScoringModel: ...


def check_fingerprint(trained: str, current: str | None, where: Path | str) -> None:
    """Raise :class:`FingerprintMismatchError` naming both fingerprints when they differ."""
    if current is not None and trained != current:
        raise FingerprintMismatchError(
            f"loading model {where}: it was trained with feature pipeline {trained}, "
            f"but the running pipeline is {current}; retrain the model or load the matching "
            "pipeline"
        )
