"""The model sub-commands end to end on a tiny simulated population (no broker)."""

from __future__ import annotations

import json

from streams.cli import main


def test_simulate_train_evaluate_tune_and_steer_the_registry(tmp_path, capsys):
    state = ["--state-dir", str(tmp_path)]
    assert main([*state, "simulate", "--users", "300", "--days", "28", "--hosts", "1"]) == 0
    assert (tmp_path / "sim" / "seed0" / "events.parquet").exists()

    assert main([*state, "train", "--task", "churn", "--epochs", "2"]) == 0
    train = [*state, "train", "--task", "churn", "--kind", "logistic", "--no-promote"]
    assert main([*train, "--entity-kinds", "user,host"]) == 0
    capsys.readouterr()
    assert main([*state, "models", "list", "--task", "churn"]) == 0
    listing = capsys.readouterr().out
    assert "v0001" in listing and "v0002" in listing and "champion" in listing

    # --no-publish: this test has no broker (the model-event path is tests/integration).
    assert main([*state, "models", "promote", "churn", "v0002", "--no-publish"]) == 0
    assert main([*state, "models", "show", "churn", "v0002"]) == 0
    shown = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert shown["status"] == "champion" and shown["kind"] == "logistic"
    assert shown["entity_kinds"] == ["user", "host"]  # as trained (v0001: users, the default)
    assert shown["parent"] == "v0001"

    assert main([*state, "evaluate", "--task", "churn"]) == 0
    report = tmp_path / "reports" / "churn-v0002"
    metrics = json.loads((report / "metrics.json").read_text())
    assert {"auc", "log_loss", "ece", "oracle_auc"} <= set(metrics)
    assert (report / "roc.png").exists() and (report / "calibration.png").exists()

    assert main([*state, "models", "rollback", "churn", "--no-publish"]) == 0
    assert "v0001 is champion again" in capsys.readouterr().out
    # nothing left to roll back to
    assert main([*state, "models", "rollback", "churn", "--no-publish"]) == 2

    assert main([*state, "tune", "--task", "churn", "--trials", "2", "--max-epochs", "2"]) == 0
    rows = json.loads((tmp_path / "reports" / "tune-churn.json").read_text())
    assert len(rows) == 2 and rows[0]["val_auc"] >= rows[1]["val_auc"]


def test_train_without_data_says_what_to_do(tmp_path, capsys):
    assert main(["--state-dir", str(tmp_path), "train"]) == 2
    assert "streamscore simulate" in capsys.readouterr().err
