"""Fixtures shared by the pipeline tests."""

from __future__ import annotations

import pytest

from tests.integration.pipeline import train_models


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A state directory whose registry holds churn and upsell champions (trained once)."""
    state = tmp_path_factory.mktemp("trained")
    train_models(state)
    return state
