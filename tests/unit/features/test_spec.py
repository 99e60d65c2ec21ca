"""Feature spec: JSON round trip of the defaults, and precise errors on bad specs."""

from __future__ import annotations

import json

import pytest

from streams.features import FeatureSpec, FeatureSpecError, default_spec


@pytest.mark.parametrize("kind", ["activity", "logs"])
def test_default_specs_round_trip_through_json(kind: str) -> None:
    spec = default_spec(kind)
    text = spec.to_json()
    again = FeatureSpec.from_json(text)
    assert again == spec
    assert again.to_json() == text
    assert json.loads(text)["steps"][0]["op"] == "filter"


def _spec(*steps: dict) -> str:
    return json.dumps({"name": "t", "steps": list(steps)})


@pytest.mark.parametrize(
    "text,needle",
    [
        (_spec({"op": "explode", "column": "a"}), "does not match any of the expected tags"),
        (_spec({"op": "hashed", "column": "a", "bits": 4, "colour": 1}), "colour"),
        (_spec({"op": "hashed", "column": "a", "bits": 17}), "less than or equal to 16"),
        (_spec({"op": "filter", "column": "a", "keep": ["x"], "drop": ["y"]}), "exactly one"),
        (
            _spec({"op": "normalise", "method": "standard", "columns": ["*"]}, {"op": "time"}),
            "normalise steps must come last",
        ),
        (
            _spec(
                {"op": "windows", "types": ["a"], "horizons_s": [60]},
                {"op": "windows", "types": ["b"], "horizons_s": [60]},
            ),
            "at most one",
        ),
        (_spec({"op": "filter", "column": "a", "keep": ["x"]}), "no feature step"),
        (_spec({"op": "windows", "types": ["a"], "horizons_s": [-1]}), "greater than 0"),
        (_spec({"op": "numeric", "column": "bad name"}), "pattern"),
        ("{not json", "Invalid JSON"),
    ],
)
def test_bad_specs_raise_feature_spec_error_saying_what(text: str, needle: str) -> None:
    with pytest.raises(FeatureSpecError, match="reading a feature spec") as info:
        FeatureSpec.from_json(text)
    assert needle in str(info.value)
    assert isinstance(info.value, ValueError)


def test_unknown_default_kind_is_an_error() -> None:
    with pytest.raises(
        FeatureSpecError, match="default feature spec: expected .*'activity'.*got 'video'"
    ):
        default_spec("video")  # type: ignore[arg-type]
