"""Hyper-parameter search for the MLP (Arbiter's job): grid or random over a declared space,
early stopping inside every trial, and a results table."""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from models.dataset import LabelledSet
from models.evaluation import auc, log_loss
from models.mlp import MLPModel, MLPParams

__all__ = ["DEFAULT_SPACE", "Trial", "search", "trials_table"]

DEFAULT_SPACE: dict[str, Sequence[Any]] = {
    "hidden": [(16,), (32, 16), (64, 32)],
    "dropout": [0.0, 0.2],
    "learning_rate": [1e-3, 3e-3],
    "l2": [1e-5, 1e-4],
    "signed_log": [False, True],
}
"""The declared space: every key is an :class:`MLPParams` field, every value its candidates."""


@dataclass(frozen=True)
class Trial:
    params: dict[str, Any]
    val_auc: float
    val_log_loss: float
    epochs: int
    seconds: float


def _candidates(space, strategy, n_trials, seed) -> list[dict[str, Any]]:
    unknown = set(space) - set(MLPParams.__dataclass_fields__)
    if unknown:
        from streams.errors import ConfigError

        raise ConfigError(f"search space: expected MLPParams fields, got unknown {sorted(unknown)}")
    keys = list(space)
    grid = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*space.values())]
    if strategy == "grid":
        return grid[:n_trials] if n_trials else grid
    rng = np.random.default_rng(seed)
    pick = rng.permutation(len(grid))[: n_trials or len(grid)]
    return [grid[i] for i in pick]


def search(
    train: LabelledSet,
    val: LabelledSet,
    space: Mapping[str, Sequence[Any]] | None = None,
    *,
    strategy: Literal["grid", "random"] = "random",
    n_trials: int = 8,
    base: Mapping[str, Any] | None = None,
    seed: int = 0,
    progress: bool = False,
) -> list[Trial]:
    """Train one MLP per candidate (early stopping on ``val``), best validation AUC first."""
    cands = _candidates(dict(space or DEFAULT_SPACE), strategy, n_trials, seed)
    if progress:
        from tqdm import tqdm

        cands = tqdm(cands, desc="tune", unit="trial")
    trials = []
    for cand in cands:
        params = MLPParams(**{**(base or {}), **cand, "seed": seed})
        t = time.perf_counter()
        model = MLPModel(params)
        rep = model.fit(
            train.X,
            train.y,
            names=train.names,
            fingerprint=train.fingerprint,
            X_val=val.X,
            y_val=val.y,
        )
        p = model.score(val.X, val.names)
        trials.append(
            Trial(
                dict(cand), auc(val.y, p), log_loss(val.y, p), rep.epochs, time.perf_counter() - t
            )
        )
    return sorted(trials, key=lambda tr: -tr.val_auc)


def trials_table(trials: Sequence[Trial]) -> list[dict[str, Any]]:
    """Rows for printing or saving: rank, each parameter, AUC, log loss, epochs, seconds."""
    return [
        {
            "rank": i + 1,
            **{k: str(v) for k, v in tr.params.items()},
            "val_auc": tr.val_auc,
            "val_log_loss": tr.val_log_loss,
            "epochs": tr.epochs,
            "seconds": tr.seconds,
        }
        for i, tr in enumerate(trials)
    ]
