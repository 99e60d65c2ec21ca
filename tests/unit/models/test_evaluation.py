"""Metrics against scikit-learn, and the plots."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import roc_auc_score

from models.evaluation import auc, calibration_error, evaluate, log_loss, plot_calibration, plot_roc


def test_metrics_match_scikit_learn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.round(rng.random(500), 1)  # many ties
    assert abs(auc(y, p) - roc_auc_score(y, p)) < 1e-12
    assert abs(log_loss(y, np.clip(p, 0.01, 0.99)) - sk_log_loss(y, np.clip(p, 0.01, 0.99))) < 1e-9


def test_calibration_error_zero_when_calibrated_and_large_when_not():
    y = np.array([0, 1] * 50)
    assert calibration_error(y, np.full(100, 0.5)) < 1e-12
    assert abs(calibration_error(y, np.full(100, 0.9)) - 0.4) < 1e-12


def test_evaluate_reports_oracle_share_and_plots_are_written(tmp_path):
    rng = np.random.default_rng(1)
    true_p = rng.random(2000)
    y = (rng.random(2000) < true_p).astype(int)
    noisy = np.clip(true_p + rng.normal(0, 0.2, 2000), 0, 1)
    m = evaluate(y, noisy, true_p)
    assert m["oracle_auc"] > m["auc"] > 0.6 and 0 < m["auc_vs_oracle"] < 1
    assert np.isnan(auc([1, 1], [0.2, 0.3]))
    roc = plot_roc(y, {"model": noisy, "oracle": true_p}, tmp_path / "roc.png")
    cal = plot_calibration(y, noisy, tmp_path / "cal.png")
    for path in (roc, cal):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
