"""Shared helpers for the ETL tests: fixture paths and the 'every payload accounted for' check."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from schemas.deadletter import DeadLetterStage
from streams.etl import FileOrigin, ParsedBatch, ParseOptions, parse_batch
from tests.support.etl_inputs import FIXTURES

SAMPLES = Path(__file__).resolve().parents[2] / "data"  # the seed's sample records (tests/data)
REF_MS = 1_764_000_000_000  # 2025-11-24T16:00:00Z: the RFC 3164 year reference in tests
OPTS = ParseOptions(reference_ms=REF_MS, default_host="testhost")


def fixture_lines(name: str) -> list[bytes]:
    return (FIXTURES / name).read_bytes().splitlines()


def parse(payloads: Sequence[bytes], fmt: str = "auto", **kw) -> ParsedBatch:
    opts = ParseOptions(**{"reference_ms": REF_MS, "default_host": "testhost", **kw})
    pb = parse_batch(payloads, fmt, FileOrigin("mem", 1), options=opts)
    assert_accounted(payloads, pb)
    return pb


def assert_accounted(payloads: Sequence[bytes], pb: ParsedBatch) -> None:
    """Every payload yields >= 1 event or exactly one rejection, never both, in order."""
    n = len(payloads)
    src = pb.source_index
    assert src.dtype == np.int32
    assert len(src) == pb.events.num_rows
    assert np.all(src[1:] >= src[:-1])
    ok = set(src.tolist())
    bad = [r.origin.line - 1 for r in pb.rejected]
    assert len(bad) == len(set(bad)), "a payload was rejected twice"
    assert bad == sorted(bad)
    assert ok.isdisjoint(bad), "a payload both yielded events and was rejected"
    assert ok | set(bad) == set(range(n)), "a payload vanished"
    for r in pb.rejected:
        assert r.raw == bytes(payloads[r.origin.line - 1])
        assert r.stage in (DeadLetterStage.PARSE, DeadLetterStage.VALIDATE)
        assert r.reason


@pytest.fixture
def rows():
    def _rows(pb: ParsedBatch) -> list[dict]:
        return pb.events.to_pylist()

    return _rows
