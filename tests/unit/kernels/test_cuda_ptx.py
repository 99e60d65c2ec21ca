"""The CUDA twins compile for a real GPU (PTX, sm_90) when libNVVM is available."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _has_nvvm() -> bool:
    home = os.environ.get("CUDA_HOME")
    return bool(home) and any((Path(home) / "nvvm" / "lib64").glob("libnvvm.so*"))


@pytest.mark.skipif(not _has_nvvm(), reason="needs libNVVM under CUDA_HOME (CUDA toolkit)")
def test_cuda_twins_compile_to_ptx_for_sm90() -> None:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.unit.kernels.cuda_ptx_check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "ALL OK" in done.stdout
