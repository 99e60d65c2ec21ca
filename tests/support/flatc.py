"""Run the stock ``flatc`` on our messages: shared by the schema tests and the streams
integration tests ("flatc decodes a sample of results, and its JSON agrees with our decoder").

flatc is required, never optional: a missing compiler fails the test with the install hint.
flatc 2.0.8 prints floats with 6 fixed decimals and bare ``nan``/``inf`` even with
``--strict-json``; :func:`flatc_json` rewrites those tokens so ``json.loads`` reads them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
_NON_FINITE = re.compile(r"(?<=[\s\[:,])(-?)(nan|inf)(?=\s*[,\]\}])")
_TOKENS = {
    ("", "nan"): "NaN",
    ("-", "nan"): "NaN",
    ("", "inf"): "Infinity",
    ("-", "inf"): "-Infinity",
}


def require_flatc() -> str:
    """Path of ``flatc``; fails the calling test when it is not installed."""
    path = shutil.which("flatc")
    if path is None:
        pytest.fail(
            "flatc not found on PATH: install flatbuffers-compiler "
            "(apt-get install -y flatbuffers-compiler); the schema tests need the stock compiler"
        )
    return path


def flatc_json(flatc: str, schema: str, payload: bytes, workdir: Path) -> dict:
    """Decode ``payload`` with ``flatc --json --raw-binary`` against ``schemas/<schema>``.

    ``schema`` is a file name in schemas/ (scores.fbs, score_batch.fbs, deadletter.fbs).
    Every field is printed, defaults included (``--defaults-json``).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    binary = workdir / "message.bin"
    binary.write_bytes(payload)
    out = workdir / "json"
    cmd = [flatc, "--json", "--strict-json", "--raw-binary", "--defaults-json", "-o", str(out),
           str(SCHEMAS / schema), "--", str(binary)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr}"
    text = (out / "message.json").read_text(encoding="utf-8")
    return json.loads(_NON_FINITE.sub(lambda m: _TOKENS[m[1], m[2]], text))
