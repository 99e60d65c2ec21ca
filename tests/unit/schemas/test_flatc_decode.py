"""Every output decodes with the stock flatc, and flatc's JSON agrees with our decoders.

Needs ``flatc`` (Debian ``flatbuffers-compiler``); without it these tests fail, never skip.
flatc 2.0.8 prints floats with 6 fixed decimals, hence the tolerance on scores.
"""

from __future__ import annotations

import numpy as np
import pytest

from schemas import (
    SCORE_FIELDS,
    DeadLetter,
    DeadLetterStage,
    decode_dead_letter,
    decode_score_batch,
    decode_score_results,
    encode_dead_letter,
    encode_score_batch,
    encode_score_results,
)
from schemas.deadletter import MAX_KEY_BYTES
from tests.support.flatc import flatc_json
from tests.support.score_reference import one_server_columns, random_columns


def assert_same(flatc_values: dict, ours: dict) -> None:
    for name in SCORE_FIELDS:
        if name == "score":
            np.testing.assert_allclose(
                np.asarray(flatc_values[name], dtype=np.float64),
                ours[name].astype(np.float64),
                rtol=1e-6,
                atol=1e-6,
                equal_nan=True,
            )
        else:
            assert flatc_values[name] == ours[name].tolist(), name


def test_flatc_decodes_score_results(flatc, rng, tmp_path):
    cols = random_columns(rng, 40)
    ours = decode_score_results(buffers := encode_score_results(cols))
    for i in (0, 1, 2, 3, 17, 39):  # NaN, 0 and 1 scores first, then random ones
        got = flatc_json(flatc, "scores.fbs", buffers[i], tmp_path / str(i))
        assert_same({k: [v] for k, v in got.items()}, {k: v[i : i + 1] for k, v in ours.items()})


@pytest.mark.parametrize("make", [random_columns, one_server_columns])
def test_flatc_decodes_score_batch(flatc, rng, tmp_path, make):
    cols = make(rng, 300)
    buffer = encode_score_batch(cols)
    got = flatc_json(flatc, "score_batch.fbs", buffer, tmp_path)
    ours = decode_score_batch(buffer)
    assert (got["model_name"], got["model_version"]) == (ours.model_name, ours.model_version)
    per_event = {k: v for k, v in got.items() if k not in ("model_name", "model_version")}
    expected = ours.to_dict()
    per_event["model_name"] = expected["model_name"].tolist()
    per_event["model_version"] = expected["model_version"].tolist()
    assert_same(per_event, expected)


def test_flatc_decodes_empty_score_batch(flatc, rng, tmp_path):
    got = flatc_json(flatc, "score_batch.fbs", encode_score_batch(random_columns(rng, 0)), tmp_path)
    assert got["event_id"] == [] and got["score"] == [] and got["model_name"] == "churn"


def test_flatc_decodes_dead_letter(flatc, tmp_path):
    original = bytes(range(256)) + '{"ü": 1'.encode()
    letter = DeadLetter(
        value=original,
        key=b"user-42",
        source_topic="activity",
        source_partition=5,
        source_offset=123_456_789_012,
        stage=DeadLetterStage.VALIDATE,
        reason="activity event field 'ts': expected epoch milliseconds (int), got 'x' (str)",
        record_time_ms=1_700_000_000_000,
        dead_time_ms=1_700_000_000_500,
    )
    buffer = encode_dead_letter(letter)
    got = flatc_json(flatc, "deadletter.fbs", buffer, tmp_path)
    assert bytes(got["value"]) == original == decode_dead_letter(buffer).value
    assert bytes(got["key"]) == b"user-42"
    assert got["stage"] == "Validate"
    assert {
        k: got[k]
        for k in (
            "source_topic",
            "source_partition",
            "source_offset",
            "reason",
            "record_time_ms",
            "dead_time_ms",
        )
    } == {
        "source_topic": "activity",
        "source_partition": 5,
        "source_offset": 123_456_789_012,
        "reason": letter.reason,
        "record_time_ms": 1_700_000_000_000,
        "dead_time_ms": 1_700_000_000_500,
    }


def test_flatc_stage_names_match_python_enum(flatc, tmp_path):
    for stage in DeadLetterStage:
        letter = DeadLetter(value=b"x", source_topic="t", stage=stage, reason="r", dead_time_ms=1)
        got = flatc_json(flatc, "deadletter.fbs", encode_dead_letter(letter), tmp_path / stage.name)
        assert got["stage"].upper() == stage.name


def test_flatc_decodes_a_truncated_dead_letter(flatc, tmp_path):
    import hashlib

    original = bytes(range(256)) * 8192  # 2 MiB
    key = b"h" * (MAX_KEY_BYTES + 10)
    letter = DeadLetter(
        value=original,
        key=key,
        source_topic="raw-logs",
        source_partition=2,
        source_offset=77,
        stage=DeadLetterStage.PARSE,
        reason="payload: expected at most 65536 bytes, got 2097152",
        dead_time_ms=1,
    )
    buffer = encode_dead_letter(letter, max_value_bytes=4096)
    got = flatc_json(flatc, "deadletter.fbs", buffer, tmp_path)
    assert bytes(got["value"]) == original[:4096] == decode_dead_letter(buffer).value
    assert got["value_truncated"] is True
    assert got["original_value_length"] == len(original)
    assert got["original_value_sha256"] == hashlib.sha256(original).hexdigest()
    assert bytes(got["key"]) == key[:MAX_KEY_BYTES] and got["key_truncated"] is True
    assert got["original_key_length"] == len(key)
    assert got["original_key_sha256"] == hashlib.sha256(key).hexdigest()
    # A whole letter: the schema defaults (not truncated, length -1) and no digests.
    short = DeadLetter(value=b"v", source_topic="t", stage=letter.stage, reason="r", dead_time_ms=1)
    whole = flatc_json(flatc, "deadletter.fbs", encode_dead_letter(short), tmp_path / "whole")
    assert whole["value_truncated"] is False and whole["original_value_length"] == -1
    assert whole["key_truncated"] is False and whole["original_key_length"] == -1
    assert "original_value_sha256" not in whole and "original_key_sha256" not in whole
