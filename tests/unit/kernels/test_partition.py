"""Our vectorised murmur2 partitioner agrees with Kafka's (aiokafka's port of the Java one)."""

import random
import string

import numpy as np
import pyarrow as pa
import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as reference_murmur2

from kernels.errors import KernelInputError
from kernels.partition import kafka_partitions, murmur2


def _keys(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + "é€漢-_.:"
    return [
        "".join(rng.choices(alphabet, k=rng.choice([0, 1, 2, 3, 4, 5, 7, 8, 31, 200])))
        for _ in range(n)
    ]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_murmur2_matches_kafka_reference(seed):
    keys = _keys(2000, seed)
    expected = [reference_murmur2(k.encode()) & 0xFFFFFFFF for k in keys]
    assert murmur2(keys).tolist() == expected
    assert murmur2(pa.array(keys)).tolist() == expected


@pytest.mark.parametrize("n", [1, 3, 6, 7, 100])
def test_partitions_match_kafka_default_partitioner(n):
    keys = _keys(1000, n) + ["", "u00001", "a" * 10_000]
    ref = DefaultPartitioner()
    parts = list(range(n))
    expected = [ref(k.encode(), parts, parts) for k in keys]
    got = kafka_partitions(keys, n)
    assert got.dtype == np.int32 and got.tolist() == expected


def test_empty_and_bad_input():
    assert kafka_partitions([], 6).shape == (0,)
    with pytest.raises(KernelInputError, match="null"):
        kafka_partitions(["a", None], 6)
    with pytest.raises(KernelInputError, match="num_partitions"):
        kafka_partitions(["a"], 0)
