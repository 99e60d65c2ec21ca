"""Helpers for the continuous-learning tests: a reader of result versions, model events."""

from __future__ import annotations

import collections
import time
from pathlib import Path

from schemas import decode_score_results
from streams.learning.events import ModelEvent, read_events
from tests.integration.pipeline import Deployment, first_reads, reader_from_start


class VersionReader:
    """Committed ScoreResults of a deployment: count and model versions per (event, model)."""

    def __init__(self, d: Deployment) -> None:
        from streams.topics import topic_name

        self.count: collections.Counter = collections.Counter()
        self.versions: dict[tuple[str, str], str] = {}
        self.seen: dict[tuple[str, str], list] = collections.defaultdict(list)  # (version, p)
        self.scores: dict[tuple[str, str], float] = {}
        self._consumer = reader_from_start(d, [topic_name(d.settings, "scores")])
        self._seen: set[tuple[str, int, int]] = set()

    def poll(self, seconds: float) -> list[tuple[str, str]]:
        """Read for ``seconds``; returns the (event, model) keys of the results read."""
        deadline, keys = time.monotonic() + seconds, []
        while time.monotonic() < deadline:
            raw = first_reads(self._consumer.consume(5000, timeout=0.5), self._seen)
            if not raw:
                continue
            msgs = [m.value() for m in raw]
            parts = [(m.partition(), m.offset()) for m in raw]
            cols = decode_score_results(msgs)
            for eid, model, version, score, where in zip(
                cols["event_id"],
                cols["model_name"],
                cols["model_version"],
                cols["score"],
                parts,
                strict=True,
            ):
                key = (eid, model)
                self.seen[key].append((version, *where))
                self.count[key] += 1
                self.versions[key] = version
                self.scores[key] = float(score)
                keys.append(key)
        return keys

    def wait_for(self, keys: set, timeout: float, workers=(), settle: float = 3.0) -> None:
        """Poll until every key has a result (or time out), then ``settle`` seconds more for
        duplicates (0 in the middle of a run: a later wait settles before the checks)."""
        deadline = time.monotonic() + timeout
        # Kept up to date from each poll's keys: checking every key against ``count`` after
        # each poll cost 0.5 s a time for the drift test's 1.1M keys.
        missing = set(keys).difference(self.count.keys())
        while time.monotonic() < deadline and missing:
            missing.difference_update(self.poll(1.0))
            for w in workers:
                assert w.poll() is None, f"a worker exited with {w.returncode}"
        self.poll(settle)

    def close(self) -> None:
        self._consumer.close()


def model_events(d: Deployment) -> list[ModelEvent]:
    """Every model event on the deployment's topic so far."""
    out = []
    for ev in read_events(d.settings, d.bootstrap):
        if ev is not None:
            out.append(ev)
    return out


def wait_for_log(
    d: Deployment, names: list[str], text: str, count: int, timeout: float, workers=()
) -> None:
    """Until each worker's log holds ``text`` at least ``count`` times."""
    wait_for_logs(d, names, lambda log: log.count(text) >= count, f"{text!r} x{count}", timeout,
                  workers)  # fmt: skip


def wait_for_logs(d: Deployment, names: list[str], found, what: str, timeout: float, workers=()):
    """Until ``found(log)`` holds for each worker's whole log; ``what`` names it in a failure."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(found(_log(d, n)) for n in names):
            return
        for w in workers:
            assert w.poll() is None, f"a worker exited with {w.returncode}: {d.log_tail(names[0])}"
        time.sleep(0.5)
    raise AssertionError(
        f"{what} not in every log of {names}: " + " | ".join(d.log_tail(n, 1500) for n in names)
    )


def _log(d: Deployment, name: str) -> str:
    path = Path(d.state_dir.parent / f"{name}.log")
    return path.read_text(errors="replace") if path.exists() else ""


def wait_for_group(d: Deployment, n: int, timeout: float, workers=()) -> None:
    """Until the worker group has ``n`` members, each holding input partitions."""
    deadline = time.monotonic() + timeout
    members: dict = {}
    while time.monotonic() < deadline:
        for w in workers:
            assert w.poll() is None, f"a worker exited with {w.returncode}"
        try:
            members = d.group_members()
        except Exception:
            members = {}
        if len(members) == n and all(
            any(t.endswith(("activity", "raw-logs")) for t, _ in tps) for tps in members.values()
        ):
            return
        time.sleep(1.0)
    raise AssertionError(f"expected {n} workers holding partitions, got {members}")
