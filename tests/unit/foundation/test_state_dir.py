"""A bad state directory is one clear error at start, for every command that writes state.

Read-only and full directories are real file systems: a tmpfs mounted read-only, or of 1 MiB,
in a private mount namespace (``unshare``); for a user other than root a directory without
write permission is read-only too. A path through a file needs nothing special.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from streams.errors import StateDirError
from streams.state_dir import check_state_dir
from tests.support.cli import REPO, clean_env

WRITERS = [
    ("worker",),
    ("kafka", "up"),
    ("train", "--task", "churn"),
    ("simulate", "--users", "10"),
    ("models", "promote", "churn", "v0001"),
    ("demo", "--duration", "1"),
]


def cli(state: Path, *args: str, wrap: list[str] | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "streams.cli", "--state-dir", str(state), *args]
    return subprocess.run(
        (wrap or []) + cmd,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env=clean_env(KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9"),
    )


def in_tmpfs(mountpoint: Path, options: str) -> list[str]:
    """A command prefix that runs the rest with a tmpfs (``options``) on ``mountpoint``, in a
    mount namespace of its own; fails the test loudly where that cannot be done."""
    unshare = shutil.which("unshare")
    assert unshare, "util-linux's unshare is needed to mount a read-only or full tmpfs"
    mountpoint.mkdir(parents=True, exist_ok=True)
    prefix = [
        unshare,
        "-rm",
        "sh",
        "-c",
        f'mount -t tmpfs -o {options} tmpfs "{mountpoint}" && exec "$@"',
        "sh",
    ]
    probe = subprocess.run([*prefix, "true"], capture_output=True, text=True, check=False)
    assert probe.returncode == 0, f"cannot mount a tmpfs in a user namespace: {probe.stderr}"
    return prefix


def assert_clear_error(done: subprocess.CompletedProcess, path: Path, found: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    err = done.stderr.strip()
    assert err.startswith(f"streamscore: error: state directory {path}"), err
    assert found in err and "--state-dir DIR or STREAMSCORE_STATE_DIR" in err, err
    assert "Traceback" not in done.stderr, err


def test_check_state_dir_creates_and_probes(tmp_path):
    made = check_state_dir(tmp_path / "a" / "b")
    assert made.is_dir() and list(made.iterdir()) == []  # the probe file is gone
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(StateDirError, match="a path through a file"):
        check_state_dir(afile / "state")
    with pytest.raises(StateDirError, match="a file where the directory should be"):
        check_state_dir(afile)
    with pytest.raises(StateDirError, match=r"expected at least \d+ MiB free, found"):
        check_state_dir(tmp_path, min_free_bytes=1 << 62)


@pytest.mark.parametrize("args", WRITERS, ids=lambda a: " ".join(a[:2]))
def test_every_state_writer_names_a_state_dir_under_a_file(tmp_path, args):
    (tmp_path / "file").write_text("not a directory")
    state = tmp_path / "file" / "state"
    assert_clear_error(cli(state, *args), state, "a path through a file")


def test_a_read_only_state_dir(tmp_path):
    state = tmp_path / "ro"
    if os.geteuid() != 0:  # permissions stop everyone but root
        state.mkdir()
        state.chmod(0o500)
        wrap = None
    else:
        wrap = in_tmpfs(state, "ro,size=1m")
    for args in (("worker",), ("kafka", "up")):
        assert_clear_error(
            cli(state, *args, wrap=wrap), state, "expected a writable directory, got"
        )
    done = cli(state, "worker", wrap=wrap)
    assert "read-only file system" in done.stderr or "permission denied" in done.stderr


def test_a_full_state_dir(tmp_path):
    state = tmp_path / "full"
    wrap = in_tmpfs(state, "size=1m")
    for args in (("worker",), ("train", "--task", "churn")):
        done = cli(state, *args, wrap=wrap)
        assert_clear_error(done, state, "MiB free, found")


def test_commands_that_only_read_do_not_need_a_writable_state_dir(tmp_path):
    (tmp_path / "file").write_text("x")
    done = cli(tmp_path / "file" / "state", "models", "list")
    assert "state directory" not in done.stderr
