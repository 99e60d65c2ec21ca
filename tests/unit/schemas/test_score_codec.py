"""Round trips of the score codecs, checked against the generated (flatc) reader and builder."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest

from schemas import (
    SCORE_FIELDS,
    CodecError,
    ScoreColumns,
    codec,
    decode_score_batch,
    decode_score_result,
    decode_score_results,
    encode_score_batch,
    encode_score_results,
)
from schemas.generated.score_batch_generated import ScoreBatch
from tests.support.score_reference import (
    decode_score_result_naive,
    encode_score_results_naive,
    one_server_columns,
    random_columns,
    random_text,
)


def assert_columns_equal(found: dict, expected: dict) -> None:
    assert list(found) == list(SCORE_FIELDS)
    for name in SCORE_FIELDS:
        f, e = found[name], expected[name]
        assert len(f) == len(e), name
        if name == "score":
            np.testing.assert_array_equal(f, np.asarray(e, dtype=np.float32))  # NaN == NaN here
        else:
            assert f.tolist() == list(e), name


def make(n: int, **overrides) -> ScoreColumns:
    base = dict(
        model_name="upsell",
        model_version="2026-11-27.1",
        event_id=[f"e{i}" for i in range(n)],
        entity=[f"user-{i % 7}" for i in range(n)],
        score=np.linspace(0, 1, n, dtype=np.float32),
        decision=np.arange(n) % 2 == 0,
        fallback=np.zeros(n, dtype=bool),
        served_by=["upsell@2026-11-27.1"] * n,
        event_time_ms=np.arange(n, dtype=np.int64) * 1000,
        scored_time_ms=np.arange(n, dtype=np.int64) + 1_700_000_000_000,
    )
    base.update(overrides)
    return ScoreColumns(**base)


def test_results_round_trip_random(columns):
    buffers = encode_score_results(columns)
    assert len(buffers) == len(columns)
    assert_columns_equal(decode_score_results(buffers), columns.to_dict())


def test_results_read_by_generated_reader(columns):
    expected = columns.to_dict()
    for i, buffer in enumerate(encode_score_results(columns)):
        assert buffer[4:8] == b"SSR1"
        got = decode_score_result_naive(buffer)
        for name in SCORE_FIELDS:
            if name == "score":
                np.testing.assert_array_equal(got[name], expected[name][i])
            else:
                assert got[name] == expected[name][i], (i, name)


def test_decoder_reads_builder_made_buffers(columns):
    # The generated builder lays buffers out differently (back to front, defaults omitted):
    # our decoder must not depend on our own layout.
    naive = encode_score_results_naive(columns)
    assert_columns_equal(decode_score_results(naive), columns.to_dict())


def test_single_result_decodes_to_plain_values():
    got = decode_score_result(encode_score_results(make(3))[1])
    assert got == {
        "event_id": "e1",
        "entity": "user-1",
        "model_name": "upsell",
        "model_version": "2026-11-27.1",
        "score": 0.5,
        "decision": False,
        "fallback": False,
        "served_by": "upsell@2026-11-27.1",
        "event_time_ms": 1000,
        "scored_time_ms": 1_700_000_000_001,
    }
    assert type(got["score"]) is float and type(got["event_time_ms"]) is int


def test_batch_round_trip_random(columns):
    buffer = encode_score_batch(columns)
    assert buffer[4:8] == b"SSB1"
    back = decode_score_batch(buffer)
    assert (back.model_name, back.model_version) == ("churn", "7")
    assert_columns_equal(back.to_dict(), columns.to_dict())


def test_batch_read_by_generated_reader(columns):
    batch = ScoreBatch.GetRootAs(encode_score_batch(columns), 0)
    n = len(columns)
    assert batch.EventIdLength() == n
    assert [batch.Entity(i).decode() for i in range(n)] == list(columns.entity)
    assert [batch.ServedBy(i).decode() for i in range(n)] == list(columns.served_by)
    np.testing.assert_array_equal(batch.ScoreAsNumpy(), columns.score)
    np.testing.assert_array_equal(batch.EventTimeMsAsNumpy(), columns.event_time_ms)
    assert batch.ModelName() == b"churn"


def test_batch_stores_a_served_by_shared_by_every_event_once(rng):
    cols = one_server_columns(rng, 200)
    buffer = encode_score_batch(cols)
    assert buffer.count("churn@7-été".encode()) == 1
    assert_columns_equal(decode_score_batch(buffer).to_dict(), cols.to_dict())
    batch = ScoreBatch.GetRootAs(buffer, 0)
    assert {batch.ServedBy(i).decode() for i in range(200)} == {"churn@7-été"}
    mixed = replace(cols, served_by=["churn@7-été"] * 199 + ["baseline"])
    assert_columns_equal(decode_score_batch(encode_score_batch(mixed)).to_dict(), mixed.to_dict())


def test_empty_batch():
    empty = make(0)
    assert encode_score_results(empty) == []
    assert_columns_equal(decode_score_results([]), empty.to_dict())
    back = decode_score_batch(encode_score_batch(empty))
    assert len(back) == 0 and back.model_name == "upsell"


def test_one_event_and_empty_strings():
    one = make(1, event_id=[""], entity=[""], served_by=[""], model_name="", model_version="")
    assert_columns_equal(decode_score_results(encode_score_results(one)), one.to_dict())
    back = decode_score_batch(encode_score_batch(one))
    assert_columns_equal(back.to_dict(), one.to_dict())


def test_unicode_and_huge_strings(rng):
    huge = "漢😀x\x00" * 300_000  # about 2.4 MB of UTF-8
    entity = random_text(rng, 5) + [huge]
    cols = make(6, entity=entity, served_by=["é"] * 6, model_name="模型")
    assert_columns_equal(decode_score_results(encode_score_results(cols)), cols.to_dict())
    assert_columns_equal(decode_score_batch(encode_score_batch(cols)).to_dict(), cols.to_dict())


def test_special_scores_and_extreme_times():
    score = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-45, 3.4e38], dtype=np.float32)
    cols = make(
        6,
        score=score,
        event_time_ms=np.array([-(2**63), 2**63 - 1, 0, -1, 1, 2**40]),
    )
    for decoded in (
        decode_score_results(encode_score_results(cols)),
        decode_score_batch(encode_score_batch(cols)).to_dict(),
    ):
        assert_columns_equal(decoded, cols.to_dict())
        assert np.signbit(decoded["score"][3])


@pytest.mark.parametrize("few", [48, 0], ids=["per-message", "vectorised"])
def test_arrow_and_numpy_string_inputs(few, monkeypatch):
    monkeypatch.setattr(codec, "_FEW", few)
    ids = pa.chunked_array([["a", "bb"], ["ccc"]]).cast(pa.dictionary(pa.int32(), pa.string()))
    entity = pa.array(["x", "y", "z", "w"]).slice(1)  # non-zero Arrow offset
    cols = make(3, event_id=ids, entity=entity, served_by=np.array(["s", "t", "u"]))
    expected = make(
        3, event_id=["a", "bb", "ccc"], entity=["y", "z", "w"], served_by=["s", "t", "u"]
    ).to_dict()
    assert_columns_equal(decode_score_results(encode_score_results(cols)), expected)
    assert_columns_equal(decode_score_batch(encode_score_batch(cols)).to_dict(), expected)


def test_results_from_different_models_decode_together():
    churn = encode_score_results(make(2, model_name="churn"))
    upsell = encode_score_results(make(2, model_name="upsell"))
    got = decode_score_results(churn + upsell)
    assert got["model_name"].tolist() == ["churn", "churn", "upsell", "upsell"]


@pytest.mark.parametrize("n", [1, 2, 5, 47])
def test_small_batch_loop_writes_the_same_bytes_as_the_vectorised_path(rng, monkeypatch, n):
    cols = random_columns(rng, n)
    few = encode_score_results(cols)
    monkeypatch.setattr(codec, "_FEW", 0)
    assert few == encode_score_results(cols)


@pytest.mark.parametrize("n", [0, 1, 2, 5, 47])
def test_small_batch_decoder_agrees_with_the_vectorised_one(rng, monkeypatch, n):
    cols = random_columns(rng, n)
    buffers = encode_score_results(cols) + encode_score_results_naive(cols)
    few = decode_score_results(buffers)
    monkeypatch.setattr(codec, "_FEW", 0)
    vectorised = decode_score_results(buffers)
    for name in SCORE_FIELDS:
        assert few[name].dtype == vectorised[name].dtype, name
    assert_columns_equal(few, vectorised)


def test_small_batch_loop_reads_arrow_and_numpy_strings():
    cols = make(3, event_id=pa.array(["a", "bb", "ccc"]), entity=np.array(["x", "y", "z"]))
    back = decode_score_results(encode_score_results(cols))
    assert back["event_id"].tolist() == ["a", "bb", "ccc"]
    assert back["entity"].tolist() == ["x", "y", "z"]


def test_batches_larger_than_one_pass_are_chunked(rng, monkeypatch):
    monkeypatch.setattr(codec, "_CHUNK", 7)
    cols = random_columns(rng, 7 * 3 + 2)
    buffers = encode_score_results(cols)
    assert buffers == [
        b for i in range(0, 23, 7) for b in encode_score_results(cols.slice(i, i + 7))
    ]
    assert_columns_equal(decode_score_results(buffers), cols.to_dict())


def test_larger_random_batches_round_trip(rng):
    cols = random_columns(rng, 5000)
    assert_columns_equal(decode_score_results(encode_score_results(cols)), cols.to_dict())
    assert_columns_equal(decode_score_batch(encode_score_batch(cols)).to_dict(), cols.to_dict())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"entity": ["a", None, "c"]}, "null"),
        ({"entity": ["a", 2, "c"]}, "expected strings"),
        ({"entity": ["a", "\ud800", "c"]}, "expected strings"),
        ({"entity": pa.array([1, 2, 3])}, "expected an Arrow string column, got type int64"),
        ({"served_by": ["a"]}, "expected column 'served_by' to have 3 values"),
        ({"score": np.zeros(4)}, "expected column 'score' to be 1-D with 3 values"),
        ({"decision": np.array([0, 1, 1])}, "expected column 'decision' to hold bool"),
        ({"event_time_ms": np.array([1.5, 2.0, 3.0])}, "expected column 'event_time_ms'"),
        ({"model_version": 3}, "expected model_version to be a str"),
    ],
)
def test_bad_columns_are_rejected_with_the_reason(overrides, message):
    with pytest.raises(CodecError, match=message):
        cols = make(3, **overrides)
        encode_score_results(cols)


@pytest.mark.parametrize("few", [48, 0], ids=["per-message", "vectorised"])
def test_wrong_identifier_is_rejected(few, monkeypatch):
    monkeypatch.setattr(codec, "_FEW", few)
    batch = encode_score_batch(make(2))
    with pytest.raises(CodecError, match="expected file identifier b'SSR1'"):
        decode_score_results([batch])
    result = encode_score_results(make(2))[0]
    with pytest.raises(CodecError, match="expected file identifier b'SSB1'"):
        decode_score_batch(result)


@pytest.mark.parametrize("few", [48, 0], ids=["per-message", "vectorised"])
@pytest.mark.parametrize("cut", [3, 8, 40, 79, 90])
def test_truncated_result_is_rejected_not_misread(cut, few, monkeypatch):
    monkeypatch.setattr(codec, "_FEW", few)
    buffers = encode_score_results(make(3))
    # The truncated message sits before a valid one: reads must not spill into its neighbour.
    with pytest.raises(CodecError):
        decode_score_results([buffers[0][:cut], buffers[1]])


def test_truncated_batch_is_rejected():
    buffer = encode_score_batch(make(50))
    with pytest.raises(CodecError):
        decode_score_batch(buffer[: len(buffer) // 2])
