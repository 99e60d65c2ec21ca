"""A class-data-sharing archive of the local broker's classes: ``kafka up`` in half the time.

A JVM started from an archive of the classes it loaded last time maps them from one file
instead of finding, reading, parsing and verifying each one in the jars. Here the broker
answered in 2.7-2.9 s instead of 5.0-5.6 (2.8 CPU s instead of 4.7-4.9), and its storage
format step cost 0.9 CPU s less.

The archive (``<kafka jars' folder>/classes-<java>.jsa``, about 65 MB) is made once per Java
runtime and Kafka release:

1. A broker started while there is none records the classes it loads
   (``-XX:DumpLoadedClassList``).
2. Once it answers, :func:`build_later` copies the list's whole lines and starts a detached
   JVM that dumps them (``-Xshare:dump``, about 12 CPU s). It writes under a temporary name
   and renames the archive when the dump succeeded, so no JVM ever maps a half-written one
   (a truncated archive crashes the JVM that maps it with SIGBUS).
3. Later broker and storage-tool JVMs start with ``-Xshare:auto``: an archive the runtime
   cannot use is ignored, and the JVM loads its classes from the jars as before.

``-Xshare:off`` in ``STREAMSCORE_KAFKA_JVM_OPTS`` (which comes after these flags) turns it off.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

__all__ = ["STALE_BUILD_S", "archive_path", "build_later", "jvm_flags", "record_flags"]

STALE_BUILD_S = 600.0
"""A build marker older than this belongs to a build that died: the next broker may retry."""

# $1 java, $2 class list, $3 temporary archive, $4 class path, $5 archive, $6 build marker
_DUMP = ('"$1" -Xshare:dump -XX:SharedClassListFile="$2" -XX:SharedArchiveFile="$3" -cp "$4" '
         '&& mv -f "$3" "$5"; rm -f "$2" "$3" "$6"')  # fmt: skip


def archive_path(jars: Path, java: str) -> Path:
    """Where the archive of ``java`` and the jars in ``jars`` lives: an archive is only valid
    for the runtime that made it, so the name keys on the resolved binary."""
    real = os.path.realpath(java)
    stat = os.stat(real)
    key = hashlib.sha1(f"{real}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    return jars.parent / f"classes-{key}.jsa"


def jvm_flags(archive: Path) -> list[str]:
    """The flags that start a JVM from ``archive``; none while it does not exist."""
    return [f"-XX:SharedArchiveFile={archive}", "-Xshare:auto"] if archive.is_file() else []


def _marker(archive: Path) -> Path:
    return archive.with_name(archive.name + ".building")


def _building(archive: Path) -> bool:
    try:
        return time.time() - _marker(archive).stat().st_mtime < STALE_BUILD_S
    except FileNotFoundError:
        return False


def record_flags(archive: Path) -> tuple[list[str], Path | None]:
    """When there is no archive and no build under way: the flags that make the broker's JVM
    record the classes it loads, and the list's path (pass it to :func:`build_later`)."""
    if archive.is_file() or _building(archive):
        return [], None
    classes = archive.with_name(f"{archive.stem}-{os.getpid()}.classlist")
    return [f"-XX:DumpLoadedClassList={classes}"], classes


def build_later(java: str, jars: Path, archive: Path, classes: Path) -> bool:
    """Start the archive's dump from the class list the broker has written so far, in a
    process of its own; whether one started (not when another build holds the marker).
    The running broker keeps appending to its list: this takes its whole lines, then
    removes it (the broker writes on into the removed file)."""
    marker = _marker(archive)
    if _building(archive):
        classes.unlink(missing_ok=True)
        return False
    try:
        listed = classes.read_bytes()
    except FileNotFoundError:
        return False
    finally:
        classes.unlink(missing_ok=True)
    snapshot = classes.with_suffix(".snapshot")
    snapshot.write_bytes(listed[: listed.rfind(b"\n") + 1])
    marker.write_text(str(os.getpid()))
    partial = archive.with_name(f"{archive.name}.partial-{os.getpid()}")
    args = [java, str(snapshot), str(partial), f"{jars}/*", str(archive), str(marker)]
    subprocess.Popen(
        ["sh", "-c", _DUMP, "sh", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # outlives the command that started the broker
    )
    return True
