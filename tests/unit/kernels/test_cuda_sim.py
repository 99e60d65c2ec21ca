"""CUDA twins == CPU kernels, under the CUDA simulator in a child process; target choice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kernels import KernelTargetError, resolve_target

ROOT = Path(__file__).resolve().parents[3]


def test_cuda_twins_match_cpu_kernels_in_the_simulator() -> None:
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.unit.kernels.cuda_sim_parity"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ALL OK" in done.stdout


def test_target_resolution_without_a_gpu() -> None:
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        pytest.skip("the simulator counts as a GPU")
    from numba import cuda

    if cuda.is_available():
        pytest.skip("a real GPU is present")
    assert resolve_target("cpu") == "cpu"
    assert resolve_target("auto") == "cpu"
    with pytest.raises(KernelTargetError, match="STREAMSCORE_KERNEL_TARGET=cpu"):
        resolve_target("cuda")
    with pytest.raises(KernelTargetError, match="expected one of"):
        resolve_target("gpu")  # type: ignore[arg-type]
