"""The broker's class archive is built in the background and only ever appears whole: a dump
that fails leaves no archive (a JVM that maps a truncated one dies of SIGBUS), and one build
runs at a time. A stand-in ``java`` plays the dump here; tests/integration/
test_local_broker_cli.py runs the real one."""

from __future__ import annotations

import os
import time
from pathlib import Path

from streams.kafka.class_archive import (
    STALE_BUILD_S,
    archive_path,
    build_later,
    jvm_flags,
    record_flags,
)

# Writes half an archive to -XX:SharedArchiveFile=..., then ends with $JAVA_EXIT.
FAKE_JAVA = """#!/bin/sh
for arg in "$@"; do
  case "$arg" in -XX:SharedArchiveFile=*) out="${arg#-XX:SharedArchiveFile=}" ;; esac
  case "$arg" in -XX:SharedClassListFile=*) cp "${arg#-XX:SharedClassListFile=}" "$DUMPED" ;; esac
done
printf 'half' > "$out"
[ "$JAVA_EXIT" = 0 ] && printf ' and the rest' >> "$out"
exit "$JAVA_EXIT"
"""


def _setup(tmp_path: Path, monkeypatch, exit_code: int) -> tuple[str, Path, Path]:
    java = tmp_path / "java"
    java.write_text(FAKE_JAVA)
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_EXIT", str(exit_code))
    monkeypatch.setenv("DUMPED", str(tmp_path / "dumped.classlist"))
    jars = tmp_path / "kafka-4.1.1" / "libs"
    jars.mkdir(parents=True)
    return str(java), jars, archive_path(jars, str(java))


def _wait_done(archive: Path, timeout_s: float = 30.0) -> None:
    marker = archive.with_name(archive.name + ".building")
    deadline = time.monotonic() + timeout_s
    while marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not marker.exists(), "the build never ended"


def test_the_archive_appears_whole_from_the_class_lists_whole_lines(tmp_path, monkeypatch):
    java, jars, archive = _setup(tmp_path, monkeypatch, 0)
    assert jvm_flags(archive) == []
    flags, classes = record_flags(archive)
    assert classes is not None and flags == [f"-XX:DumpLoadedClassList={classes}"]
    classes.write_bytes(b"java/lang/Object\norg/apache/kafka/Foo\norg/apache/ka")  # mid-write

    assert build_later(java, jars, archive, classes)
    _wait_done(archive)

    assert archive.read_text() == "half and the rest"
    assert (
        tmp_path / "dumped.classlist"
    ).read_bytes() == b"java/lang/Object\norg/apache/kafka/Foo\n"
    assert sorted(p.name for p in archive.parent.iterdir()) == [archive.name, "libs"]
    assert jvm_flags(archive) == [f"-XX:SharedArchiveFile={archive}", "-Xshare:auto"]
    assert record_flags(archive) == ([], None)  # nothing more to record


def test_a_failed_dump_leaves_no_archive_and_the_next_broker_records_again(tmp_path, monkeypatch):
    java, jars, archive = _setup(tmp_path, monkeypatch, 1)
    _, classes = record_flags(archive)
    classes.write_bytes(b"java/lang/Object\n")
    assert build_later(java, jars, archive, classes)
    _wait_done(archive)
    assert sorted(p.name for p in archive.parent.iterdir()) == ["libs"]  # no half archive
    assert jvm_flags(archive) == []
    assert record_flags(archive)[1] is not None


def test_one_build_at_a_time_unless_the_other_one_died(tmp_path, monkeypatch):
    java, jars, archive = _setup(tmp_path, monkeypatch, 0)
    marker = archive.with_name(archive.name + ".building")
    marker.write_text("12345")  # another broker's build, under way
    assert record_flags(archive) == ([], None)
    classes = archive.with_name("late.classlist")
    classes.write_bytes(b"java/lang/Object\n")
    assert not build_later(java, jars, archive, classes)
    assert not classes.exists() and not archive.exists()

    old = time.time() - STALE_BUILD_S - 1
    os.utime(marker, (old, old))  # that build died long ago
    _, classes = record_flags(archive)
    classes.write_bytes(b"java/lang/Object\n")
    assert build_later(java, jars, archive, classes)
    _wait_done(archive)
    assert archive.read_text() == "half and the rest"
