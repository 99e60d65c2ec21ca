"""Fixtures for the schema tests: the stock flatc (required, never skipped) and sample columns."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.flatc import require_flatc
from tests.support.score_reference import random_columns


@pytest.fixture(scope="session")
def flatc() -> str:
    """Path of the stock flatc. Missing flatc fails the test: the contract says outputs decode
    with it, so an environment without it cannot pass."""
    return require_flatc()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261127)


@pytest.fixture
def columns(rng):
    return random_columns(rng, 257)
