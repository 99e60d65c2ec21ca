"""Without pyspark or Java the Spark engine says what is missing and how to fix it."""

from __future__ import annotations

import sys

import pytest

from streams.cli import main
from streams.errors import SparkSetupError
from streams.spark.session import check_spark


def test_missing_pyspark_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark -> ImportError
    with pytest.raises(SparkSetupError, match=r"pip install 'streamscore\[spark\]'"):
        check_spark()


def test_missing_java_names_the_package(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on it
    with pytest.raises(SparkSetupError, match="Java 17.*openjdk-17-jre-headless"):
        check_spark()


def test_old_java_is_refused(monkeypatch, tmp_path):
    fake = tmp_path / "bin" / "java"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    fake.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(SparkSetupError, match=r"version 11"):
        check_spark()


def test_cli_reports_the_error_and_exits_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "pyspark", None)
    log = tmp_path / "a.log"
    log.write_text("Oct 11 22:14:15 host app: hello\n")
    rc = main(["etl", str(log), "--out", str(tmp_path / "o"), "--engine", "spark"])
    assert rc == 2
    assert "streamscore: error: --engine spark: expected the pyspark package" in (
        capsys.readouterr().err
    )


def test_malformed_conf_is_a_config_error(tmp_path, capsys):
    log = tmp_path / "a.log"
    log.write_text("Oct 11 22:14:15 host app: hello\n")
    rc = main(["etl", str(log), "--out", str(tmp_path / "o"), "--engine", "spark",
               "--conf", "spark.executor.memory"])  # fmt: skip
    assert rc == 2 and "--conf: expected KEY=VALUE" in capsys.readouterr().err
