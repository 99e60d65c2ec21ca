"""The retraining child ends with the worker that started it, even one killed with SIGKILL
(which cannot shut its pool down): an orphaned child, TensorFlow loaded, lived on for hours."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PARENT = """
import os, sys, time
from streams.learning.retrain import retrain_pool
pool = retrain_pool()
pool.submit(os.getpid)  # starts the child
print(*pool._processes, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended (its new parent may not reap it at once)


def test_the_retraining_child_exits_when_its_worker_is_killed():
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, env=os.environ
    )
    try:
        child = int(parent.stdout.readline().split()[0])
        assert _alive(child)  # starting up: it may not have reached its initializer yet
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 30
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.2)
    still = _alive(child)
    if still:
        os.kill(child, signal.SIGKILL)
    assert not still, "the retraining child outlived its killed worker by 30 s"
