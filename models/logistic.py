"""L2-regularised logistic regression in NumPy: the last fallback, and a sanity baseline.

Fitted by Newton's method (IRLS) on standardised inputs; no TensorFlow, so it still loads and
scores when TensorFlow cannot.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.contract import FitReport, ScoringModel
from models.errors import ModelLoadError

__all__ = ["LogisticModel", "LogisticParams"]


@dataclass(frozen=True)
class LogisticParams:
    l2: float = 1.0  # penalty on the weights of standardised inputs, per 1000 rows
    max_iter: int = 50
    tol: float = 1e-6


class LogisticModel(ScoringModel):
    kind = "logistic"

    def __init__(self, params: LogisticParams | None = None) -> None:
        super().__init__()
        self.params = params or LogisticParams()
        self.mean = self.scale = self.coef = np.zeros(0, np.float32)
        self.intercept = 0.0

    def fit(self, X, y, *, names, fingerprint, X_val=None, y_val=None) -> FitReport:
        X, y = self._begin_fit(X, y, names, fingerprint)
        self.mean = X.mean(axis=0)
        self.scale = np.where(X.std(axis=0) > 1e-12, X.std(axis=0), 1.0).astype(np.float32)
        Z = np.hstack([(X - self.mean) / self.scale, np.ones((len(X), 1), np.float32)]).astype(
            np.float64
        )
        w = np.zeros(Z.shape[1])
        lam = self.params.l2 * len(X) / 1000.0
        reg = np.full(Z.shape[1], lam)
        reg[-1] = 0.0  # the intercept is not penalised
        iterations = 0
        for iterations in range(1, self.params.max_iter + 1):  # noqa: B007 - read after
            p = 1.0 / (1.0 + np.exp(-np.clip(Z @ w, -80.0, 80.0)))
            grad = Z.T @ (p - y) + reg * w
            hess = (Z * (p * (1 - p))[:, None]).T @ Z + np.diag(reg + 1e-9)
            step = np.linalg.solve(hess, grad)
            w -= step
            if np.abs(step).max() < self.params.tol:
                break
        self.coef = w[:-1].astype(np.float32)
        self.intercept = float(w[-1])
        val = None
        if X_val is not None and y_val is not None:
            pv = np.clip(self._score(self._check_matrix(X_val)), 1e-7, 1 - 1e-7)
            yv = np.asarray(y_val, np.float64)
            val = float(-np.mean(yv * np.log(pv) + (1 - yv) * np.log(1 - pv)))
        return FitReport(epochs=iterations, best_val_loss=val)

    def _score(self, X: np.ndarray) -> np.ndarray:
        logit = ((X - self.mean) / self.scale) @ self.coef + np.float32(self.intercept)
        np.clip(logit, -80.0, 80.0, out=logit)  # exp overflow on absurd inputs, not a warning
        return (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)

    def _save_artifacts(self, path: Path) -> None:
        tmp = path / ".weights.tmp.npz"
        np.savez(
            tmp,
            mean=self.mean,
            scale=self.scale,
            coef=self.coef,
            intercept=np.float64(self.intercept),
        )
        tmp.replace(path / "weights.npz")

    def _load_artifacts(self, path: Path) -> None:
        with np.load(path / "weights.npz") as w:
            self.mean, self.scale, self.coef = w["mean"], w["scale"], w["coef"]
            self.intercept = float(w["intercept"])
        d = len(self.feature_names)
        if not (self.mean.shape == self.scale.shape == self.coef.shape == (d,)):
            raise ModelLoadError(
                f"loading logistic weights from {path}: expected {d} weights, got {self.coef.shape}"
            )

    def _params_dict(self) -> dict[str, Any]:
        return asdict(self.params)

    @classmethod
    def _from_params(cls, params: dict[str, Any]) -> LogisticModel:
        return cls(LogisticParams(**params))
