"""Metrics for probabilistic binary classifiers, and the ROC and calibration plots.

All functions take labels ``y`` in {0, 1} and probabilities ``p`` in [0, 1] of equal length.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["auc", "calibration_error", "evaluate", "log_loss", "plot_calibration", "plot_roc"]


def _check(y, p) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    p = np.asarray(p, dtype=np.float64).reshape(-1)
    if y.shape != p.shape or y.size == 0:
        raise ValueError(
            f"metrics: expected equal non-empty label and score arrays, got {y.shape} and {p.shape}"
        )
    return y, p


def auc(y, p) -> float:
    """Area under the ROC curve (ties count one half); NaN when only one class is present."""
    y, p = _check(y, p)
    n_pos = y.sum()
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    ps = p[order]
    ranks = np.empty(y.size)
    # average ranks over ties
    _, first, counts = np.unique(ps, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def log_loss(y, p, eps: float = 1e-7) -> float:
    """Mean negative log-likelihood (nats), probabilities clipped to [eps, 1 - eps]."""
    y, p = _check(y, p)
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def calibration_error(y, p, bins: int = 10) -> float:
    """Expected calibration error: bin-size-weighted mean |mean(p) - mean(y)| over equal-width
    probability bins."""
    y, p = _check(y, p)
    idx = np.minimum((p * bins).astype(np.int64), bins - 1)
    count = np.bincount(idx, minlength=bins)
    sum_p = np.bincount(idx, weights=p, minlength=bins)
    sum_y = np.bincount(idx, weights=y, minlength=bins)
    used = count > 0
    return float(np.sum(np.abs(sum_p[used] - sum_y[used])) / y.size)


def evaluate(y, p, true_p=None) -> dict[str, Any]:
    """AUC, log loss, ECE, base rate and size; plus oracle AUC/log loss when ``true_p`` is the
    simulator's true probability, and the model's share of the oracle AUC."""
    y, p = _check(y, p)
    out: dict[str, Any] = {
        "n": int(y.size),
        "positive_rate": float(y.mean()),
        "auc": auc(y, p),
        "log_loss": log_loss(y, p),
        "ece": calibration_error(y, p),
    }
    if true_p is not None:
        out["oracle_auc"] = auc(y, true_p)
        out["oracle_log_loss"] = log_loss(y, true_p)
        out["auc_vs_oracle"] = out["auc"] / out["oracle_auc"]
    return out


def _figure():
    import matplotlib

    matplotlib.use("Agg")  # files only; never a display
    import matplotlib.pyplot as plt

    return plt


def plot_roc(y, curves: dict[str, np.ndarray], path: Path, title: str = "ROC") -> Path:
    """ROC curves of several scorers (name -> probabilities) for the same labels, as PNG."""
    plt = _figure()
    y = np.asarray(y)
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, p in curves.items():
        order = np.argsort(-np.asarray(p), kind="mergesort")
        ys = y[order]
        tpr = np.concatenate([[0], np.cumsum(ys) / max(ys.sum(), 1)])
        fpr = np.concatenate([[0], np.cumsum(1 - ys) / max((1 - ys).sum(), 1)])
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc(y, p):.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_calibration(y, p, path: Path, bins: int = 10, title: str = "Calibration") -> Path:
    """Reliability diagram: mean predicted vs observed rate per equal-width bin, as PNG."""
    plt = _figure()
    y, p = _check(y, p)
    idx = np.minimum((p * bins).astype(np.int64), bins - 1)
    count = np.bincount(idx, minlength=bins)
    used = count > 0
    mean_p = np.bincount(idx, weights=p, minlength=bins)[used] / count[used]
    mean_y = np.bincount(idx, weights=y, minlength=bins)[used] / count[used]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.plot(mean_p, mean_y, "o-", label=f"ECE {calibration_error(y, p, bins):.3f}")
    ax.set(xlabel="mean predicted probability", ylabel="observed positive rate", title=title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
