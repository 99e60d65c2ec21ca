"""Our buffers pass the official FlatBuffers C++ Verifier (bounds, alignment, vtables).

The per-event encoder lays bytes out by hand, and neither the Python runtime nor
``flatc --json`` (2.0.8 does not verify; it crashes on bad input) would notice a misaligned or
out-of-range offset. The verifier does. Needs g++ and the Debian package libflatbuffers-dev
(same source and version as flatbuffers-compiler); without them this test fails, never skips.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from schemas import (
    DeadLetter,
    DeadLetterStage,
    ScoreColumns,
    encode_dead_letter,
    encode_score_batch,
    encode_score_results,
)
from tests.support.score_reference import one_server_columns, random_columns

HERE = Path(__file__).resolve().parent
SCHEMAS = HERE.parents[2] / "schemas"


@pytest.fixture(scope="module")
def verifier(flatc, tmp_path_factory) -> Path:
    compiler = shutil.which("g++")
    if compiler is None or not Path("/usr/include/flatbuffers/flatbuffers.h").exists():
        pytest.fail(
            "the C++ verifier check needs g++ and the FlatBuffers headers: install g++ and "
            "libflatbuffers-dev (apt-get install -y g++ libflatbuffers-dev)"
        )
    build = tmp_path_factory.mktemp("verifier")
    fbs = sorted(str(p) for p in SCHEMAS.glob("*.fbs"))
    subprocess.run([flatc, "--cpp", "-o", str(build), *fbs], check=True, timeout=60)
    binary = build / "verify_buffers"
    done = subprocess.run(
        [compiler, "-std=c++17", "-O0", "-I", str(build), str(HERE / "verify_buffers.cpp"),
         "-o", str(binary)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, f"compiling verify_buffers.cpp failed: {done.stderr}"
    return binary


def verify(
    verifier: Path, kind: str, buffers: list[bytes], tmp_path: Path
) -> subprocess.CompletedProcess:
    files = []
    for i, buffer in enumerate(buffers):
        files.append(tmp_path / f"{kind}-{i}.bin")
        files[-1].write_bytes(buffer)
    return subprocess.run(
        [str(verifier), kind, *map(str, files)], capture_output=True, text=True, timeout=120
    )


def edge_columns() -> ScoreColumns:
    return ScoreColumns(
        model_name="m" * 1001,
        model_version="",
        event_id=["x" * 100_000, "", "é"],
        entity=["漢字😀", "\x00", "a"],
        score=np.array([np.nan, np.inf, 0.5], dtype=np.float32),
        decision=np.array([True, False, True]),
        fallback=np.array([True, True, False]),
        served_by=["", "baseline", "b@1"],
        event_time_ms=np.array([-(2**63), 2**63 - 1, 0]),
        scored_time_ms=np.array([1, 2, 3]),
    )


def test_score_results_verify(verifier, rng, tmp_path):
    buffers = [b for n in (1, 2, 3, 5, 64) for b in encode_score_results(random_columns(rng, n))]
    buffers += encode_score_results(edge_columns())
    done = verify(verifier, "result", buffers, tmp_path)
    assert done.returncode == 0, done.stdout


def test_score_batches_verify(verifier, rng, tmp_path):
    buffers = [encode_score_batch(random_columns(rng, n)) for n in (0, 1, 2, 3, 5, 300)]
    buffers += [encode_score_batch(one_server_columns(rng, n)) for n in (1, 2, 7, 300)]
    buffers.append(encode_score_batch(edge_columns()))
    done = verify(verifier, "batch", buffers, tmp_path)
    assert done.returncode == 0, done.stdout


def test_dead_letters_verify(verifier, tmp_path):
    buffers = [
        encode_dead_letter(
            DeadLetter(
                value=None if i == 0 else bytes(range(i * 37 % 256)),
                key=None if i % 2 else b"key",
                source_topic="t" * i,
                stage=stage,
                reason="r" * i,
                dead_time_ms=i,
            )
        )
        for i, stage in enumerate(DeadLetterStage)
    ]
    truncated = DeadLetter(  # with the appended truncation fields, value and key
        value=bytes(range(256)) * 20,
        key=b"k" * 20_000,
        source_topic="t",
        stage=DeadLetterStage.PARSE,
        reason="r",
        dead_time_ms=1,
    )
    buffers.append(encode_dead_letter(truncated, max_value_bytes=1001))
    done = verify(verifier, "dead", buffers, tmp_path)
    assert done.returncode == 0, done.stdout


def test_verifier_rejects_a_truncated_buffer(verifier, rng, tmp_path):
    # The check above only means something if the verifier can fail.
    buffer = encode_score_results(random_columns(rng, 1))[0]
    done = verify(verifier, "result", [buffer[:60]], tmp_path)
    assert done.returncode == 1 and "FAIL" in done.stdout
