"""Every model kind by name, and loading a saved model of any kind."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from models.contract import ScoringModel, read_meta
from models.errors import ModelLoadError
from models.logistic import LogisticModel
from models.mlp import MLPModel

__all__ = ["MODEL_KINDS", "ModelKind", "load_model", "new_model"]

ModelKind = Literal["mlp", "logistic"]
MODEL_KINDS: dict[str, type[ScoringModel]] = {
    MLPModel.kind: MLPModel,
    LogisticModel.kind: LogisticModel,
}


def new_model(kind: ModelKind, params: dict | None = None) -> ScoringModel:
    """An untrained model of ``kind`` with hyper-parameters ``params`` (defaults otherwise)."""
    if kind not in MODEL_KINDS:
        raise ModelLoadError(f"model kind: expected one of {sorted(MODEL_KINDS)}, got {kind!r}")
    try:
        return MODEL_KINDS[kind]._from_params(params or {})
    except TypeError as exc:
        from streams.errors import ConfigError

        raise ConfigError(f"{kind} hyper-parameters {sorted(params or {})}: {exc}") from exc


def load_model(path: Path, *, fingerprint: str | None = None) -> ScoringModel:
    """Load a saved model of whatever kind its ``model.json`` names (see ScoringModel.load)."""
    kind = read_meta(path)["kind"]
    if kind not in MODEL_KINDS:
        raise ModelLoadError(
            f"loading {path}: unknown model kind {kind!r}; expected one of {sorted(MODEL_KINDS)}"
        )
    return MODEL_KINDS[kind].load(path, fingerprint=fingerprint)
