"""Encode/decode throughput of the score codecs, with baselines side by side in one run.

Run:  .venv/bin/python tests/benchmarks/bench_codec.py [--events N] [--repeats R]

For each micro-batch size, times (best of R) turning ScoreColumns into Kafka-ready bytes:
  naive        one ScoreResult per event, field by field through the generated builder
               (Builder reused, Clear() per event): the obvious implementation
  json.dumps   one JSON object per event (stdlib), the common non-FlatBuffers choice
  orjson       the same with orjson (fastest mainstream JSON encoder)
  results      schemas.encode_score_results: one ScoreResult per event, vectorised
  batch        schemas.encode_score_batch: one columnar ScoreBatch for the whole batch
and the matching decoders. Prints events/s and the ratio to the naive loop, then the dead-letter
codec's records/s (1 KB originals). Seeded workload.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson

# Run as a script from anywhere: the reference codecs live in the tests package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from schemas import (
    DeadLetter,
    DeadLetterStage,
    decode_dead_letter,
    decode_score_batch,
    decode_score_results,
    encode_dead_letter,
    encode_score_batch,
    encode_score_results,
)
from schemas.columns import ScoreColumns
from tests.support.score_reference import (
    decode_score_result_naive,
    encode_score_results_naive,
    random_columns,
)


def json_rows(columns: ScoreColumns) -> list[dict]:
    d = columns.to_dict()
    lists = {k: v.tolist() for k, v in d.items()}
    return [dict(zip(lists, values, strict=True)) for values in zip(*lists.values(), strict=True)]


def encode_json(columns: ScoreColumns) -> list[bytes]:
    return [json.dumps(row).encode() for row in json_rows(columns)]


def encode_orjson(columns: ScoreColumns) -> list[bytes]:
    return [orjson.dumps(row) for row in json_rows(columns)]


def best_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm up (allocations, caches)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def run(batch_size: int, total_events: int, repeats: int, rng: np.random.Generator) -> list[tuple]:
    batches = [random_columns(rng, batch_size) for _ in range(max(1, total_events // batch_size))]
    n = batch_size * len(batches)

    def each(fn: Callable) -> Callable[[], None]:
        return lambda: [fn(b) for b in batches]

    encoders = {
        "naive": each(encode_score_results_naive),
        "json.dumps": each(encode_json),
        "orjson": each(encode_orjson),
        "results": each(encode_score_results),
        "batch": each(encode_score_batch),
    }
    results = [encode_score_results(b) for b in batches]
    batch_bytes = [encode_score_batch(b) for b in batches]
    json_bytes = [encode_json(b) for b in batches]
    orjson_bytes = [encode_orjson(b) for b in batches]  # NaN becomes null: orjson rejects NaN
    decoders = {
        "naive": lambda: [[decode_score_result_naive(x) for x in r] for r in results],
        "json.loads": lambda: [[json.loads(x) for x in r] for r in json_bytes],
        "orjson": lambda: [[orjson.loads(x) for x in r] for r in orjson_bytes],
        "results": lambda: [decode_score_results(r) for r in results],
        "batch": lambda: [decode_score_batch(b) for b in batch_bytes],
    }
    sizes = {
        "naive": np.mean([len(x) for x in encode_score_results_naive(batches[0])]),
        "json.dumps": np.mean([len(x) for x in json_bytes[0]]),
        "orjson": np.mean([len(x) for x in orjson_bytes[0]]),
        "json.loads": np.mean([len(x) for x in json_bytes[0]]),
        "results": np.mean([len(x) for x in results[0]]),
        "batch": len(batch_bytes[0]) / batch_size,
    }
    rows = []
    for kind, table in (("encode", encoders), ("decode", decoders)):
        rates = {name: n / best_seconds(fn, repeats) for name, fn in table.items()}
        for name, rate in rates.items():
            size = sizes[name]
            rows.append((kind, batch_size, name, rate, rate / rates["naive"], size))
    return rows


def dead_letter_rates(rng: np.random.Generator, count: int, repeats: int) -> tuple[float, float]:
    letters = [
        DeadLetter(
            value=rng.bytes(1024),
            key=b"user-%d" % i,
            source_topic="activity",
            source_partition=i % 6,
            source_offset=i,
            stage=DeadLetterStage.PARSE,
            reason="activity event: expected a JSON object, found invalid UTF-8 at byte 17",
            record_time_ms=1_700_000_000_000 + i,
            dead_time_ms=1_700_000_000_100 + i,
        )
        for i in range(count)
    ]
    encoded = [encode_dead_letter(x) for x in letters]
    enc = count / best_seconds(lambda: [encode_dead_letter(x) for x in letters], repeats)
    dec = count / best_seconds(lambda: [decode_dead_letter(x) for x in encoded], repeats)
    return enc, dec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 10, 100, 1000, 10_000])
    args = parser.parse_args()
    rng = np.random.default_rng(5)
    print(f"{'op':6} {'batch':>6} {'codec':11} {'events/s':>12} {'x naive':>8} {'B/event':>8}")
    for batch_size in args.batch_sizes:
        for kind, size, name, rate, ratio, nbytes in run(
            batch_size, max(args.events, batch_size), args.repeats, rng
        ):
            print(
                f"{kind:6} {size:>6} {name:11} {rate:>12,.0f} {ratio:>8.1f} {nbytes:>8.1f}",
                flush=True,
            )
        print()
    enc, dec = dead_letter_rates(rng, 5000, args.repeats)
    print(f"dead letters (1 KB originals): encode {enc:,.0f}/s, decode {dec:,.0f}/s")


if __name__ == "__main__":
    main()
