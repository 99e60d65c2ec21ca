"""Every command, given a bad argument or setting, ends with ``streamscore: error: ...`` and exit
code 2: never a traceback. Each case is a process of its own running the CLI's ``main`` as
``python -m streams.cli`` does; the processes are forked from one that imported the CLI once
(:mod:`tests.support.forked_cli`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

# (argv after the global options, a fragment the error must contain)
CASES: list[tuple[list[str], str]] = [
    (["kafka", "up", "--port", "99999"], "kafka up: argument --port: expected a TCP port"),
    (["kafka", "up", "--heap-mb", "5"], "expected a heap size in MiB in 128..65536, got '5'"),
    (["kafka", "down", "--force"], "unrecognized arguments: --force"),
    (["kafka", "status", "--json", "x"], "unrecognized arguments: x"),
    (["kafka", "logs", "-n", "-3"], "expected an integer in 0.., got '-3'"),
    (["topics", "frob"], "invalid choice: 'frob'"),
    (["topics", "create", "--partitions", "3"], "unrecognized arguments"),
    (["demo", "--duration", "-1"], "demo: argument --duration: expected a number > 0, got '-1'"),
    (["demo", "--rate", "fast"], "expected a number, got 'fast'"),
    (["etl", "no-such-file.log", "--out", "out"], "expected a readable file, got 'no-such-file"),
    (["etl", "README.md", "--out", "README.md"], "expected a directory (created when missing)"),
    (["etl", "README.md", "--out", "o", "--reference-time", "yesterday"],
     "argument --reference-time: expected an ISO 8601 time, got 'yesterday'"),
    (["etl", "README.md", "--out", "o", "--utc-offset-min", "9999"], "minutes in -1440..1440"),
    (["simulate", "--users", "0"], "simulate: argument --users: expected an integer in 1.."),
    (["simulate", "--days", "3"], "simulation calendar: expected"),
    (["train", "--holdout", "1.5"], "train: argument --holdout: expected a share in (0, 1)"),
    (["train", "--data", "no-such-dir"], "expected a directory, got 'no-such-dir'"),
    (["evaluate", "--task", "both"], "invalid choice: 'both'"),
    (["tune", "--trials", "-1"], "tune: argument --trials: expected an integer in 0.."),
    (["models", "list", "--task", "x"], "invalid choice: 'x'"),
    (["models", "show", "churn", "v9999"], "expected version churn/v9999"),
    (["models", "promote", "churn", "v9999", "--no-publish"], "expected version churn/v9999"),
    (["models", "rollback", "churn", "--no-publish"], "expected a previous champion"),
    (["worker", "--roles", "x"], "worker: argument --roles: expected a comma-separated list "
                                 "of activity, logs, got 'x'"),
    (["worker", "--models", "churn,nope"], "expected a comma-separated list of churn, upsell"),
    (["produce", "--simulate", "--format", "cobol"], "argument --format: invalid choice"),
    (["produce", "--simulate", "--rate", "0"], "produce: argument --rate: expected a number > 0"),
    (["produce"], "produce: expected input files or --simulate, got neither"),
    (["consume", "--idle", "0"], "consume: argument --idle: expected a number > 0"),
    (["dlq", "list", "--max", "-1"], "dlq list: argument -n/--max: expected an integer in 0.."),
    (["dlq", "replay", "--stage", "nope"], "dlq replay: argument --stage: invalid choice"),
    (["gui", "--port", "70000"], "gui: argument --port: expected a TCP port in 0..65535"),
    (["gui", "--metrics", "ftp://x"], "argument --metrics: expected an http(s) URL"),
    (["bogus"], "argument COMMAND: invalid choice: 'bogus'"),
]  # fmt: skip


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("STREAMSCORE_") and k != "KAFKA_BOOTSTRAP_SERVERS"}  # fmt: skip
    # An unreachable cluster: a command that got past its checks fails, it starts nothing.
    return {**env, "PYTHONPATH": str(REPO), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", **extra}


def _run(cases: list[tuple[list[str], Path, dict[str, str], str]]) -> None:
    """Run each (argv, cwd, env, expected) in a process of its own; check every outcome."""
    todo = [{"argv": argv, "cwd": str(cwd), "env": env} for argv, cwd, env, _ in cases]
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.forked_cli"],
        input=json.dumps(todo),
        capture_output=True,
        text=True,
        cwd=REPO,
        env=_env(),
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for (argv, _, _, expected), got in zip(cases, json.loads(done.stdout), strict=True):
        _check(argv, got, expected)


def _check(argv: list[str], got: dict, expected: str) -> None:
    out, err = got["stdout"], got["stderr"]
    where = f"{argv}: rc={got['rc']}\n{err[-1500:]}"
    assert got["rc"] == 2, where
    assert "Traceback" not in err and "Traceback" not in out, where
    last = err.strip().splitlines()[-1]
    assert last.startswith("streamscore: error: "), where
    assert expected in last, where


def test_every_command_rejects_a_bad_value_with_a_message_and_exit_code_2(tmp_path):
    (tmp_path / "README.md").write_text("not an event\n")
    state = ["--state-dir", str(tmp_path / "var")]
    env = _env()
    _run([([*state, *argv], tmp_path, env, expected) for argv, expected in CASES])


def test_bad_settings_and_state_dir_are_errors_too(tmp_path):
    (tmp_path / "a-file").write_text("x")
    _run([
        (["topics", "list"], tmp_path, _env(STREAMSCORE_BATCH_MAX="abc"),
         "batch_max (env STREAMSCORE_BATCH_MAX)"),
        (["models", "list"], tmp_path, _env(STREAMSCORE_NOPE="1"),
         "unknown environment variable STREAMSCORE_NOPE"),
        # A command that writes state checks it first (streams/state_dir.py)...
        (["--state-dir", "a-file", "simulate"], tmp_path, _env(),
         "state directory a-file: expected a directory"),
        # ...and one that only reads it is told the same before it reads anything.
        (["--state-dir", "a-file", "models", "list"], tmp_path, _env(),
         "state directory (--state-dir, env STREAMSCORE_STATE_DIR): expected a directory"),
    ])  # fmt: skip


def test_worker_roles_are_the_pipelines_input_roles():
    from streams.cli.worker_cmd import ROLES
    from streams.pipeline.worker import INPUT_ROLES

    assert set(ROLES) == set(INPUT_ROLES)
