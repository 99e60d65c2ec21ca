"""How ``make test`` splits the suite into units for its pytest-xdist workers."""

from __future__ import annotations

from pathlib import Path

from tests.support.schedule import FIRST, GROUPS, group_of, unit_file_of

REPO = Path(__file__).resolve().parents[3]


def test_a_unit_test_file_is_one_unit_and_an_integration_test_is_its_own():
    assert unit_file_of("tests/unit/models/test_serving.py::test_a[x]") == (
        "tests/unit/models/test_serving.py"
    )
    assert unit_file_of("tests/integration/test_pipeline.py::test_a") is None


def test_groups_and_first_units_name_tests_that_exist():
    assert group_of("tests/unit/spark/test_etl_engines.py::test_a") == "spark"
    assert group_of("tests/integration/test_faults.py::test_a") == "faults"
    assert group_of("tests/integration/test_pipeline.py::test_a") is None
    prefixes = [*FIRST, *(p for ps in GROUPS.values() for p in ps)]
    stale = [p for p in prefixes if not (REPO / p).exists()]
    assert not stale, f"schedule prefixes that name no test file or folder: {stale}"
