"""Fixtures shared by the pipeline tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.pipeline import train_models
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
