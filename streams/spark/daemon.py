"""Spark's Python daemon for our jobs (``spark.python.daemon.module``): PySpark's own
(``pyspark.daemon``), importing pyspark from its installed package rather than from the
``pyspark.zip`` Spark puts first on the workers' ``PYTHONPATH``.

Python compiles every module it imports from a zip archive anew (no ``.pyc`` is kept for
them): the daemon and then each Python worker it forks spent about 1.2 CPU s compiling
``pyspark.daemon`` and ``pyspark.worker`` from the zip, against 0.3 s from the installed
package. The archive is dropped from ``sys.path`` only when the installed pyspark is the
archive's version (a cluster's ``SPARK_HOME`` may hold another), and nothing else is imported
before the daemon forks its workers (the daemon forks; threads must not exist yet).
"""

from __future__ import annotations

import os
import runpy
import sys
import zipfile

__all__ = ["main"]

_VERSION_FILE = "pyspark/version.py"


def _version_text(entry: str) -> str | None:
    """The ``pyspark/version.py`` text under a ``sys.path`` entry (a folder or a zip)."""
    try:
        if zipfile.is_zipfile(entry):
            with zipfile.ZipFile(entry) as archive:
                return archive.read(_VERSION_FILE).decode()
        with open(os.path.join(entry, _VERSION_FILE), encoding="utf-8") as f:
            return f.read()
    except (OSError, KeyError, zipfile.BadZipFile):
        return None


def installed_first(path: list[str]) -> list[str]:
    """``path`` without the ``pyspark.zip`` entries whose version a later entry (the
    installed package) also has; unchanged when there is none."""
    zips = [p for p in path if os.path.basename(p) == "pyspark.zip"]
    folders = [p for p in path if p not in zips and os.path.isdir(os.path.join(p, "pyspark"))]
    installed = next((t for t in map(_version_text, folders) if t is not None), None)
    if installed is None:
        return path
    return [p for p in path if p not in zips or _version_text(p) != installed]


def main() -> None:
    sys.path[:] = installed_first(sys.path)
    runpy.run_module("pyspark.daemon", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
