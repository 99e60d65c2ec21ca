"""Pipeline on the CUDA target (simulator) == pipeline on the CPU, bit for bit.

Run by test_cuda_sim_pipeline.py in a child process with ``NUMBA_ENABLE_CUDASIM=1``; not
collected by pytest. Small inputs: the simulator runs kernels as Python.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from streams.features import FeaturePipeline, default_spec
from tests.support.events import activity_table, log_table


def main() -> None:
    assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", "run with NUMBA_ENABLE_CUDASIM=1"
    warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)
    for kind, table in (("activity", activity_table(120, n_users=9)), ("logs", log_table(120))):
        spec = default_spec(kind)
        cpu = FeaturePipeline(spec, target="cpu").fit(table)
        gpu = FeaturePipeline(spec, target="cuda").fit(table)
        assert gpu.target == "cuda" and cpu.fingerprint == gpu.fingerprint
        s_cpu, s_gpu = cpu.new_state(), gpu.new_state()
        for a, b in ((0, 50), (50, 120)):
            x_cpu = cpu.transform(table.slice(a, b - a), s_cpu).X
            x_gpu = gpu.transform(table.slice(a, b - a), s_gpu).X
            assert np.array_equal(x_cpu, x_gpu), kind
        assert np.array_equal(s_cpu.array, s_gpu.array)
        print(kind, "identical")
    print("ALL OK")


if __name__ == "__main__":
    main()
