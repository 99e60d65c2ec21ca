#!/usr/bin/env bash
# The checks that need a real NVIDIA GPU, in one short run (CI has none; the suite tests the
# CUDA twins in Numba's simulator instead). Prints the GPU, the CPU-vs-GPU parity of every
# kernel on real hardware, the PTX compile test, and the CPU-vs-CUDA kernel benchmark.
# Run from the repo root with a Python that has the project's dependencies:
#     bash tests/benchmarks/gpu_check.sh [python]        (writes into $OUT when set)
set -uo pipefail
PY=${1:-python3}
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
unset NUMBA_ENABLE_CUDASIM
export PYTHONUNBUFFERED=1
if [ -z "${CUDA_HOME:-}" ] && command -v nvcc >/dev/null; then
  CUDA_HOME=$(dirname "$(dirname "$(command -v nvcc)")"); export CUDA_HOME
fi
status=0
{
  nvidia-smi -L
  "$PY" -c "import numba, numba.cuda as c; print('numba', numba.__version__); c.detect()"
} 2>&1 | tee "$OUT/gpu.txt"
T=${STEP_TIMEOUT_S:-300}  # each step's limit, so one hang cannot eat a short GPU lease
echo "== CUDA twins vs CPU kernels on the GPU"
timeout "$T" "$PY" -m tests.unit.kernels.cuda_sim_parity 2>&1 | tee "$OUT/parity.txt" || status=1
echo "== CPU vs CUDA benchmark"
timeout "$T" "$PY" tests/benchmarks/bench_kernels.py --cuda --n "${BENCH_N:-1000000}" 2>&1 \
  | tee "$OUT/bench_cuda.txt" || status=1
echo "== kernel unit tests on this machine (PTX compile included when CUDA_HOME has libNVVM)"
timeout "$T" "$PY" -m pytest -q -p no:cacheprovider tests/unit/kernels 2>&1 \
  | tee "$OUT/kernel_tests.txt" || status=1
exit $status
