"""The state directory's health, checked before a command writes to it.

Broker data, models, window state (RocksDB) and logs all live under one state directory. A
read-only or full one used to surface as a traceback from deep inside (``OSError: [Errno 30]``,
RocksDB's "No space left on device" among event-loop tracebacks). :func:`check_state_dir` says
so at start instead, naming the path and the fix.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import uuid
from pathlib import Path

from streams.errors import StateDirError

__all__ = ["MIN_FREE_BYTES", "check_state_dir"]

MIN_FREE_BYTES = 256 * 1024 * 1024
"""Least free space a state directory must have at start (a broker segment, RocksDB's files
and a model version need tens of MB each)."""

_FIX = (
    "use a writable directory with free space (--state-dir DIR or STREAMSCORE_STATE_DIR=DIR), "
    "or free space / fix the permissions there"
)


def check_state_dir(path: Path, *, min_free_bytes: int = MIN_FREE_BYTES) -> Path:
    """Create ``path`` if missing, write and delete a probe file in it, and check its disk has
    at least ``min_free_bytes`` free (for an unprivileged writer). Returns the resolved path;
    raises :class:`StateDirError` naming the path, what was found and the fix."""
    path = Path(path).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateDirError(
            f"state directory {path}: expected a directory streamscore can create, got "
            f"{_what(exc)}; {_FIX}"
        ) from exc
    probe = path / f".write-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        with open(probe, "wb") as fh:
            fh.write(b"streamscore")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise StateDirError(
            f"state directory {path}: expected a writable directory, got {_what(exc)}; {_FIX}"
        ) from exc
    finally:
        with contextlib.suppress(OSError):  # a read-only directory never got the file
            probe.unlink(missing_ok=True)
    free = shutil.disk_usage(path).free
    if free < min_free_bytes:
        raise StateDirError(
            f"state directory {path}: expected at least {min_free_bytes // (1024 * 1024)} MiB "
            f"free, found {free / (1024 * 1024):.1f} MiB; {_FIX}"
        )
    return path.resolve()


def _what(exc: OSError) -> str:
    names = {
        errno.EROFS: "a read-only file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ENOSPC: "no space left on the device",
        errno.ENOTDIR: "a path through a file, not a directory",
        errno.EEXIST: "a file where the directory should be",
    }
    name = names.get(exc.errno or 0, exc.strerror or type(exc).__name__)
    where = f" at {exc.filename}" if exc.filename else ""
    return f"{name}{where} ({type(exc).__name__} errno {exc.errno})"
