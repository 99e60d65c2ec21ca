"""Window-state rows as bytes: compact rows round-trip bit for bit; plain rows still read."""

from __future__ import annotations

import numpy as np
import pytest

from streams.features.errors import FeatureInputError
from streams.features.rows import decode_rows, encode_rows


def sparse_rows(rng: np.random.Generator, k: int, width: int) -> np.ndarray:
    rows = np.where(rng.random((k, width)) < 0.2, rng.normal(size=(k, width)), 0.0)
    if k > 3:
        rows[0] = 0.0  # an empty row
        rows[1] = rng.normal(size=width)  # a full one
        special = [-0.0, np.nan, np.inf, 5e-324][:width]  # bit patterns that must survive
        rows[2, : len(special)] = special
    return rows


@pytest.mark.parametrize("width", [1, 7, 8, 9, 270])
def test_round_trip_is_bit_exact(width):
    rng = np.random.default_rng(width)
    rows = sparse_rows(rng, 50, width)
    encoded = encode_rows(rows)
    assert len(encoded) == 50
    assert all(len(r) % 8 == 4 for r in encoded)  # never mistaken for a plain row
    back = decode_rows(encoded, width)
    assert back.view(np.uint64).tolist() == rows.view(np.uint64).tolist()


def test_compact_rows_are_smaller_than_plain_ones_when_sparse():
    rows = sparse_rows(np.random.default_rng(1), 200, 270)[4:]
    assert sum(map(len, encode_rows(rows))) < 0.35 * rows.nbytes


def test_missing_rows_are_zero_and_plain_rows_are_still_read():
    rng = np.random.default_rng(2)
    rows = sparse_rows(rng, 6, 12)
    raws = [encode_rows(rows[:1])[0], None, rows[2].tobytes(), encode_rows(rows[3:4])[0], None]
    back = decode_rows(raws, 12)
    expected = np.stack([rows[0], np.zeros(12), rows[2], rows[3], np.zeros(12)])
    assert back.view(np.uint64).tolist() == expected.view(np.uint64).tolist()
    plain_only = decode_rows([rows[4].tobytes(), rows[5].tobytes()], 12)
    assert plain_only.tolist() == rows[4:].tolist()
    assert decode_rows([], 12).shape == (0, 12) and encode_rows(np.zeros((0, 12))) == []


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00" * 3,  # neither length
        encode_rows(np.ones((1, 12)))[0],  # a row of another width
        encode_rows(np.ones((1, 16)))[0][:-8],  # truncated: fewer values than its bitmap says
        b"XX" + encode_rows(np.ones((1, 16)))[0][2:],  # not our header
    ],
)
def test_a_corrupt_row_is_refused_with_what_was_found(raw):
    good = encode_rows(np.ones((1, 16)))[0]
    with pytest.raises(FeatureInputError, match=r"window state row 1: expected 128 bytes"):
        decode_rows([good, raw], 16)
