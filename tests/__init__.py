"""The test suite.

One thread per thread pool, for every test process and every process a test starts (they
inherit the environment), unless the caller set the variable: ``make test`` runs three
pytest-xdist workers on the machine's cores, next to a broker and worker processes, so a pool
of several threads has no idle core to win, and its threads spin while they wait for work. With
both cores busy, scikit-learn's gradient boosting (OpenMP) took 69.4 CPU s with its default
threads against 9.0 with one, and a TensorFlow fit 12.0 against 8.0.

This runs before ``tests/conftest.py`` imports anything (it is this package's ``__init__``), so
OpenBLAS and OpenMP read these when NumPy and scikit-learn load in this process too.
"""

import os

for _name in (
    "OMP_NUM_THREADS",  # OpenMP: scikit-learn; also the size of Arrow's CPU thread pool
    "OPENBLAS_NUM_THREADS",  # NumPy's BLAS
    "TF_NUM_INTRAOP_THREADS",  # TensorFlow (models._tf honours both)
    "TF_NUM_INTEROP_THREADS",
):
    os.environ.setdefault(_name, "1")
