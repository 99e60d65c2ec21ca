"""TensorFlow's start-up lines (oneDNN, absl, cpu_feature_guard) stay off the console unless
asked for: a command that trains and loads a model prints none of them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from streams.cli import main

REPO = Path(__file__).resolve().parents[3]
START_UP = re.compile(r"oneDNN|cpu_feature_guard|absl::InitializeLog|port\.cc|"
                      r"This TensorFlow binary|^[IW]\d{4} ", re.MULTILINE)  # fmt: skip


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(REPO)
    return {**env, **extra}


@pytest.fixture(scope="module")
def state(tmp_path_factory) -> list[str]:
    """A state directory with a churn model, trained in this process."""
    state = ["--state-dir", str(tmp_path_factory.mktemp("quiet"))]
    assert main([*state, "simulate", "--users", "300", "--days", "28", "--hosts", "1"]) == 0
    assert main([*state, "train", "--task", "churn", "--epochs", "1"]) == 0
    return state


def _evaluate(state: list[str], **env: str) -> subprocess.CompletedProcess:
    cli = [sys.executable, "-m", "streams.cli", *state]
    done = subprocess.run([*cli, "evaluate", "--task", "churn"], env=_env(**env),
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_a_command_that_loads_a_model_prints_no_tensorflow_start_up_lines(state):
    evaluate = _evaluate(state)
    assert (Path(state[1]) / "reports" / "churn-v0001" / "metrics.json").exists()
    assert not START_UP.search(evaluate.stderr + evaluate.stdout), evaluate.stderr[-2000:]


def test_verbose_or_an_explicit_level_shows_them(state):
    """The same command with the level set prints them: the quiet run had lines to filter
    (``evaluate`` imports TensorFlow to score with the Keras model)."""
    shown = _evaluate(state, TF_CPP_MIN_LOG_LEVEL="0")
    assert START_UP.search(shown.stderr), "TensorFlow printed no start-up line to filter"
