"""Fixtures shared by the pipeline tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.pipeline import STARTED, stop, train_models
from tests.support.run import once_per_run, run_dir


@pytest.fixture(scope="session")
def trained(pytestconfig: pytest.Config) -> Path:
    """A state directory whose registry holds churn and upsell champions, trained once per run
    and shared by every xdist worker: read it, never write it (``Deployment.create`` copies
    its models)."""

    def train(state: Path) -> dict[str, str]:
        train_models(state)
        return {"state_dir": str(state)}

    try:
        return Path(once_per_run(run_dir(pytestconfig), "trained-models", train)["state_dir"])
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture(autouse=True)
def stop_leftover_workers():
    """Stop the worker processes a test left running (a failure before its ``finally``): a
    leftover worker would hold CPU for the rest of the run."""
    yield
    while STARTED:
        stop(STARTED.pop())
