"""Fixtures for the schema tests: the stock flatc (required, never skipped) and sample columns."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.unit.schemas.reference import random_columns


@pytest.fixture(scope="session")
def flatc() -> str:
    """Path of the stock flatc. Missing flatc fails the test: the contract says outputs decode
    with it, so an environment without it cannot pass."""
    path = shutil.which("flatc")
    if path is None:
        pytest.fail(
            "flatc not found on PATH: install flatbuffers-compiler "
            "(apt-get install -y flatbuffers-compiler); the schema tests need the stock compiler"
        )
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261127)


@pytest.fixture
def columns(rng):
    return random_columns(rng, 257)
