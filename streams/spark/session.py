"""The one place that builds a SparkSession for streamscore's offline jobs.

pyspark is an optional extra (``pip install 'streamscore[spark]'``) and is imported here on
use only. Python workers must run this very interpreter (else they miss pyarrow, numba and our
packages), so ``PYSPARK_PYTHON``/``PYSPARK_DRIVER_PYTHON`` are set to ``sys.executable`` before
the JVM starts, unless the caller set them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from streams.errors import SparkSetupError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["DEFAULT_MASTER", "DRIVER_JAVA_OPTIONS", "ONE_CORE_ENV", "check_spark", "spark_session"]

DEFAULT_MASTER = "local[*]"
_ARROW_BATCH_ROWS = 65_536
"""Rows per Arrow batch between the JVM and the Python tasks (Spark's default is 10,000): the
local engine's chunk size, so each feature and scoring call gets as many rows as it does."""

ONE_CORE_ENV = {
    "OMP_NUM_THREADS": "1",  # also the size of Arrow's CPU thread pool
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
}
"""The environment of every Python worker: a Spark task is one core, so no library in it may
start a pool of threads per core (with ``local[2]``, two workers each running Arrow, BLAS and
TensorFlow pools sized to the machine fought the JVM for its two cores)."""


DRIVER_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseParallelGC"
"""The driver JVM's flags (in ``local[N]`` it is also the executor) unless ``conf`` sets
``spark.driver.extraJavaOptions``. Our tasks hand the JVM only rejections and counts (the
events go through exchange files), so its own work is scheduling and a few jobs' planning:
C2's optimising compiles (about 19 of 41 JVM CPU seconds of a 360,000-event ``etl`` +
``score`` at ``local[1]``, measured when the events still went through the JVM as blobs)
and G1's concurrent marking (4 s) cost more than they return; C1 only and the throughput
collector brought the JVM's share to 13.5 s and the whole job from 61.7 to 33.4 CPU s
(tests/benchmarks/bench_offline.py). Executors on a cluster are long-lived and keep the JVM's
defaults."""


def _java_major(java: str) -> int | None:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for token in (out.stderr + out.stdout).split():
        token = token.strip('"')
        if token[:1].isdigit():
            head = token.split(".")[0]
            major = token.split(".")[1] if head == "1" else head
            try:
                return int(major.split("-")[0].split("+")[0])
            except ValueError:
                continue
    return None


def check_spark() -> None:
    """Raise :class:`SparkSetupError`, naming the fix, when pyspark or Java 17+ is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise SparkSetupError(
            "--engine spark: expected the pyspark package (Spark's optional extra), found none "
            f"({exc}); install it with `pip install 'streamscore[spark]'`"
        ) from None
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    major = _java_major(java) if java else None
    if major is None or major < 17:
        found = "no java on PATH or JAVA_HOME" if java is None else f"{java} (version {major})"
        raise SparkSetupError(
            f"--engine spark: expected a Java 17+ runtime, found {found}; install one "
            "(Debian: `apt-get install openjdk-17-jre-headless`) or set JAVA_HOME"
        )


def spark_session(
    master: str | None = None, conf: Mapping[str, str] | None = None, app: str = "streamscore"
) -> SparkSession:
    """A SparkSession (the running one when there is one; then ``master`` and ``conf`` apply to
    it only where Spark lets a running session change them).

    ``master``: e.g. ``local[2]``, ``spark://host:7077``, ``yarn`` (default ``local[*]``, or what
    ``spark-submit --master`` set). ``conf``: extra ``spark.*`` settings. Arrow batches of
    ``65536`` rows, one thread per Python worker (:data:`ONE_CORE_ENV`), the driver JVM's
    :data:`DRIVER_JAVA_OPTIONS` and the Python daemon :mod:`streams.spark.daemon` unless
    ``conf`` says otherwise. Raises :class:`SparkSetupError`.
    """
    check_spark()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    settings: dict[str, Any] = {
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(_ARROW_BATCH_ROWS),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "true",
        "spark.driver.extraJavaOptions": DRIVER_JAVA_OPTIONS,
        "spark.python.daemon.module": "streams.spark.daemon",
        "spark.executorEnv.PYSPARK_PYTHON": os.environ["PYSPARK_PYTHON"],
        **{f"spark.executorEnv.{k}": v for k, v in ONE_CORE_ENV.items()},
    }
    settings.update(conf or {})
    builder = SparkSession.builder.appName(app)
    # Under spark-submit the JVM is already up (PYSPARK_GATEWAY_PORT) with its --master.
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ
    if master or not (submitted or "spark.master" in settings):
        builder = builder.master(master or DEFAULT_MASTER)
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except Exception as exc:
        raise SparkSetupError(
            f"starting Spark (master {master or DEFAULT_MASTER}): expected a session, got "
            f"{type(exc).__name__}: {str(exc)[:500]}"
        ) from exc
