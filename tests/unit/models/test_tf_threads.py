"""TensorFlow's thread counts: an explicit count, else TensorFlow's own environment variables
(``TF_NUM_INTRAOP_THREADS``, ``TF_NUM_INTEROP_THREADS``), else min(2, cpu count)."""

from __future__ import annotations

import os

import pytest

from models._tf import _env_threads, tensorflow
from streams.errors import ConfigError


def test_a_thread_variable_is_read_as_a_positive_count(monkeypatch):
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", " 3 ")
    assert _env_threads("TF_NUM_INTRAOP_THREADS") == 3
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "")
    assert _env_threads("TF_NUM_INTRAOP_THREADS") is None
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS")
    assert _env_threads("TF_NUM_INTRAOP_THREADS") is None


@pytest.mark.parametrize("raw", ["0", "-1", "two", "1.5"])
def test_a_bad_thread_variable_is_a_config_error_naming_it(monkeypatch, raw):
    monkeypatch.setenv("TF_NUM_INTEROP_THREADS", raw)
    with pytest.raises(ConfigError, match=rf"TF_NUM_INTEROP_THREADS: expected a positive .*{raw}"):
        _env_threads("TF_NUM_INTEROP_THREADS")


def test_tensorflow_runs_with_the_thread_counts_of_the_environment():
    """tests/__init__.py sets both to 1 for the suite (unless the caller set them)."""
    config = tensorflow().config.threading
    assert config.get_intra_op_parallelism_threads() == int(os.environ["TF_NUM_INTRAOP_THREADS"])
    assert config.get_inter_op_parallelism_threads() == int(os.environ["TF_NUM_INTEROP_THREADS"])
