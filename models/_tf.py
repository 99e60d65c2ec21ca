"""Import TensorFlow lazily, once, with a bounded thread count and a quiet start.

TensorFlow is slow to import and grabs every core by default; callers that need it go through
:func:`tensorflow` (Keras too: import it after calling :func:`tensorflow`), so merely importing
:mod:`models` stays cheap and the thread limits are set before TensorFlow's runtime starts.

Quiet start: TensorFlow's native libraries log start-up lines (oneDNN, ``cpu_feature_guard``,
absl's "All log messages before absl::InitializeLog()") straight to file descriptor 2 while
they load, before ``TF_CPP_MIN_LOG_LEVEL`` is read (TF 2.19+). So this module is the one place
that decides: unless TensorFlow logging is on, ``TF_CPP_MIN_LOG_LEVEL`` defaults to 2 (no C++
INFO/WARNING lines), absl's Python logger shows errors only, and the import runs with fd 2
captured and written back without those INFO/WARNING lines (errors pass through). Logging is on
after :func:`show_tensorflow_logs` (the CLI's ``--verbose``, a worker's ``--loglevel debug``)
or when the user set ``TF_CPP_MIN_LOG_LEVEL=0`` themselves; an explicit value is never
overwritten, and child processes inherit the decision through the environment.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from types import ModuleType

__all__ = ["show_tensorflow_logs", "tensorflow", "tensorflow_logs_on"]

_TF: ModuleType | None = None
_LEVEL = "TF_CPP_MIN_LOG_LEVEL"
# Lines native start-up code writes to stderr: absl/TF INFO and WARNING records, absl's notice
# that it is not initialised yet, and cpu_feature_guard's continuation line.
_NOISE = re.compile(
    rb"[IW]\d{4} [\d:.]+ +\d+ \S+:\d+\]"
    rb"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IW] "
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|To enable the following instructions: .* rebuild TensorFlow"
)


def show_tensorflow_logs() -> None:
    """Let TensorFlow log everything (a debug or verbose flag); call before it is imported.
    Keeps a ``TF_CPP_MIN_LOG_LEVEL`` the user set."""
    os.environ.setdefault(_LEVEL, "0")


def tensorflow_logs_on() -> bool:
    """Whether TensorFlow's start-up and C++ log lines are shown (see the module docstring)."""
    return os.environ.get(_LEVEL, "2").strip() == "0"


@contextlib.contextmanager
def _quiet_fd2() -> Iterator[None]:
    """Capture fd 2 (native code writes there directly) and write back all but the noise."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [ln for ln in captured.read().splitlines(keepends=True)
                    if not _NOISE.match(ln)]  # fmt: skip
            if kept:
                out = getattr(sys.stderr, "buffer", None)
                if out is not None:
                    out.write(b"".join(kept))
                else:
                    sys.stderr.write(b"".join(kept).decode(errors="replace"))
                sys.stderr.flush()


def tensorflow(threads: int | None = None) -> ModuleType:
    """The ``tensorflow`` module, configured on first use with ``threads`` intra- and inter-op
    threads. Without ``threads``, TensorFlow's own ``TF_NUM_INTRAOP_THREADS`` and
    ``TF_NUM_INTEROP_THREADS`` apply where set, and min(2, cpu count) otherwise (the target
    machines have few cores, shared with the stream workers).

    One thread is the cheaper choice on a busy machine: TensorFlow's thread pool spins while it
    waits for work, and a fit of the quality test took 8.0 CPU s with one thread against 12.0
    with two, for the same model, while other processes kept both cores busy.
    """
    global _TF
    if _TF is None:
        os.environ.setdefault(_LEVEL, "2")
        quiet = not tensorflow_logs_on()
        with _quiet_fd2() if quiet else contextlib.nullcontext():
            import tensorflow as tf

        if quiet:
            from absl import logging as absl_logging

            absl_logging.set_verbosity(absl_logging.ERROR)
        default = min(2, os.cpu_count() or 1)
        try:
            tf.config.threading.set_intra_op_parallelism_threads(
                threads or _env_threads("TF_NUM_INTRAOP_THREADS") or default
            )
            tf.config.threading.set_inter_op_parallelism_threads(
                threads or _env_threads("TF_NUM_INTEROP_THREADS") or default
            )
        except RuntimeError:  # the runtime already started (someone imported tf first)
            pass
        _TF = tf
    return _TF


def _env_threads(name: str) -> int | None:
    """A positive thread count from the environment variable ``name``, else None."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        from streams.errors import ConfigError

        raise ConfigError(f"{name}: expected a positive whole number of threads, got {raw!r}")
    return int(raw)
