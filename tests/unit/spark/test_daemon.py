"""The Python daemon module drops ``pyspark.zip`` from the path only for the same version."""

from __future__ import annotations

import zipfile

from streams.spark.daemon import installed_first


def _zip(path, version: str) -> str:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("pyspark/version.py", f"__version__: str = '{version}'\n")
    return str(path)


def _installed(folder, version: str) -> str:
    (folder / "pyspark").mkdir(parents=True)
    (folder / "pyspark" / "version.py").write_text(f"__version__: str = '{version}'\n")
    return str(folder)


def test_the_archive_goes_when_the_installed_package_is_its_version(tmp_path):
    archive = _zip(tmp_path / "pyspark.zip", "4.3.0")
    site = _installed(tmp_path / "site", "4.3.0")
    assert installed_first([archive, "/nowhere", site]) == ["/nowhere", site]


def test_the_archive_stays_for_another_version_or_no_installed_package(tmp_path):
    archive = _zip(tmp_path / "pyspark.zip", "4.3.0")
    other = _installed(tmp_path / "other", "4.2.1")
    assert installed_first([archive, other]) == [archive, other]
    assert installed_first([archive, "/nowhere"]) == [archive, "/nowhere"]
