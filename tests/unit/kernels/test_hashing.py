"""Hash kernels against the reference: published FNV-1a vectors, random, edge and bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from kernels import KernelInputError, hash_strings, hash_token_counts
from tests.unit.kernels import reference as ref


def random_strings(rng: np.random.Generator, n: int) -> list[str | None]:
    alphabet = list("abcXYZ019 -_.:/é日本\u00a0\t")
    out: list[str | None] = []
    for _ in range(n):
        if rng.random() < 0.1:
            out.append(None)
        else:
            out.append("".join(rng.choice(alphabet, size=rng.integers(0, 30))))
    return out


def test_published_fnv1a_vectors_with_seed_zero() -> None:
    assert ref.fnv1a64(b"") == 0xCBF29CE484222325
    assert ref.fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    assert ref.fnv1a64(b"foobar") == 0x85944171F73967E8
    got = hash_strings(["", "a", "foobar"], 30)
    assert got.tolist() == [ref.bucket(b"", 30), ref.bucket(b"a", 30), ref.bucket(b"foobar", 30)]


@pytest.mark.parametrize("bits,seed", [(1, 0), (8, 7), (30, 2**64 - 1)])
def test_hash_strings_matches_reference_on_random_input(bits: int, seed: int) -> None:
    values = random_strings(np.random.default_rng(bits), 500)
    got = hash_strings(values, bits, seed)
    assert got.dtype == np.int64
    assert got.tolist() == ref.hash_strings(values, bits, seed)


def test_hash_strings_edge_inputs() -> None:
    assert hash_strings([], 4).shape == (0,)
    assert hash_strings([None], 4).tolist() == [-1]
    assert hash_strings(pa.array([], pa.string()), 4).shape == (0,)
    huge = "x" * 200_000
    assert hash_strings([huge], 12).tolist() == [ref.bucket(huge.encode(), 12)]


def test_arrow_layouts_give_the_same_buckets() -> None:
    values = ["alpha", None, "beta", "", "gamma", "beta"]
    plain = hash_strings(values, 10)
    sliced = pa.array(["zzz", *values])[1:]
    chunked = pa.chunked_array([values[:2], values[2:]], type=pa.string())
    assert hash_strings(sliced, 10).tolist() == plain.tolist()
    assert hash_strings(pa.array(values, pa.large_string()), 10).tolist() == plain.tolist()
    assert hash_strings(chunked, 10).tolist() == plain.tolist()
    assert hash_strings(pa.array(values).dictionary_encode(), 10).tolist() == plain.tolist()


def test_colliding_keys_land_in_the_same_bucket_and_all_buckets_are_used() -> None:
    values = [f"user-{i}" for i in range(2000)]
    got = hash_strings(values, 3)
    assert set(got.tolist()) == set(range(8))
    assert got.tolist() == ref.hash_strings(values, 3)


def test_buckets_are_the_same_in_another_process() -> None:
    code = "from kernels import hash_strings; print(hash_strings(['a','b','ünï'], 20).tolist())"
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123"},
    )
    assert other.stdout.strip() == str(hash_strings(["a", "b", "ünï"], 20).tolist())


@pytest.mark.parametrize("bad", [0, 31, 2.5, -1])
def test_bad_bits_raise_clear_error(bad) -> None:
    with pytest.raises(KernelInputError, match="bits in 1..30"):
        hash_strings(["a"], bad)


def test_non_string_column_and_bad_seed_raise() -> None:
    with pytest.raises(KernelInputError, match="expected a string column"):
        hash_strings(pa.array([1, 2]), 4)
    with pytest.raises(KernelInputError, match="seed"):
        hash_strings(["a"], 4, seed=-1)


@pytest.mark.parametrize("skip_numeric", [True, False])
def test_token_counts_match_reference(skip_numeric: bool) -> None:
    values = random_strings(np.random.default_rng(3), 300)
    values += ["Failed password for root from 10.0.0.1 port 22", "ÉCOLE école", "42", "  ", ""]
    got = hash_token_counts(values, 6, 11, skip_numeric=skip_numeric)
    np.testing.assert_array_equal(got, ref.token_counts(values, 6, 11, skip_numeric))


def test_token_counts_write_into_a_column_block_and_add() -> None:
    values = ["a b a", None]
    out = np.full((2, 12), 5.0, dtype=np.float32)
    hash_token_counts(values, 2, out=out, col0=3)
    block = ref.token_counts(values, 2, 0, True)
    np.testing.assert_array_equal(out[:, 3:7], 5.0 + block)
    assert (out[:, :3] == 5).all() and (out[:, 7:] == 5).all()


def test_token_counts_reject_bad_out() -> None:
    with pytest.raises(KernelInputError, match="float32"):
        hash_token_counts(["a"], 2, out=np.zeros((1, 4)))
    with pytest.raises(KernelInputError, match="shape"):
        hash_token_counts(["a"], 2, out=np.zeros((1, 4), np.float32), col0=1)
    with pytest.raises(KernelInputError, match="C-contiguous"):
        hash_token_counts(["a"], 2, out=np.zeros((1, 8), np.float32)[:, ::2])
