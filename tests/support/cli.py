"""Run the real ``streamscore`` CLI in a subprocess, with a controlled environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without streamscore/Kafka variables, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("STREAMSCORE_") and k != "KAFKA_BOOTSTRAP_SERVERS"
    }
    env.update(extra)
    return env


def streamscore(
    *args: str, env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=timeout,
        check=False,
    )
