"""Rolling aggregates of what a deployment does, as the GUI shows them.

:class:`LiveState` is fed decoded batches (scores, dead letters, model events, consumer lag,
scraped worker metrics, among them the events each model did not score by design because
their entity is of a kind it does not score) by :mod:`streams.web.feed` and turned into one
JSON-able
:meth:`~LiveState.snapshot` per second for the page. Everything is kept per batch and per
second, bounded in size: a long run does not grow it. Non-finite numbers are tolerated from
every source: ``None`` in the snapshot, and the server writes any other as ``null``.
"""

from __future__ import annotations

import collections
import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from schemas import DeadLetter
from streams.metrics import reason_class
from streams.web.latency import IntervalLatency, axis_max_ms

__all__ = ["HISTOGRAM_BINS", "LiveState", "WINDOW_S"]

WINDOW_S = 120
"""Seconds of history in the time series (throughput, latency)."""
HISTOGRAM_WINDOW_S = 60
"""Seconds of scores in the rolling score histogram."""
HISTOGRAM_BINS = 20
RECENT_ROWS = 25
RECENT_PER_MODEL = 5  # rows each model adds to the live table per batch
SAMPLES_PER_REASON = 3
MODEL_EVENTS_KEPT = 20

_RECENT_FIELDS = (
    "event_id",
    "entity",
    "model_name",
    "model_version",
    "score",
    "decision",
    "served_by",
    "fallback",
)


class LiveState:
    """Thread-safe rolling aggregates (a Kafka thread writes, the web server reads).

    ``clock`` gives the wall time in seconds (injected in tests).
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.started = clock()
        self.scores_total = 0
        self.dead_total = 0
        self.by_model: collections.Counter = collections.Counter()
        self.fallbacks: collections.Counter = collections.Counter()  # model -> results
        self.served_by: dict[str, collections.Counter] = collections.defaultdict(
            collections.Counter
        )
        self.recent: collections.deque = collections.deque(maxlen=RECENT_ROWS)
        # second -> {model: bin counts}; second -> [scores, dead letters]
        self._hist: collections.OrderedDict = collections.OrderedDict()
        self._rate: collections.OrderedDict = collections.OrderedDict()
        self.dead_by_reason: collections.Counter = collections.Counter()  # (stage, class)
        self.dead_samples: dict[tuple[str, str], collections.deque] = {}
        self.model_events: collections.deque = collections.deque(maxlen=MODEL_EVENTS_KEPT)
        self.latest_model_event: dict[str, dict] = {}
        self.registry: list[dict] = []
        self.lag: list[dict] = []
        self.lag_error: str | None = None
        self.feed_error: str | None = None  # the Kafka reader's last error, until it recovers
        self.workers: list[dict] = []  # per scraped /metrics URL: up, error
        self.drift: list[dict] = []
        self.retrains: dict[str, dict[str, int]] = {}  # task -> outcome -> runs (workers' sum)
        # task -> entity kind -> events the task's model did not score by design (workers' sum)
        self.not_scored: dict[str, dict[str, int]] = {}
        self._latency: collections.deque = collections.deque(maxlen=WINDOW_S)
        self._last_cumulative: dict[str, tuple[float, float]] = {}  # stage -> (sum, count)
        self._e2e = IntervalLatency()

    # --- writers (the feed thread) -------------------------------------------------------

    def add_scores(self, cols: Mapping[str, np.ndarray]) -> None:
        """One batch of decoded ScoreResults (``schemas.decode_score_results`` columns)."""
        n = len(cols["score"])
        if not n:
            return
        now = int(self._clock())
        models = np.asarray(cols["model_name"], dtype=object)
        scores = np.asarray(cols["score"], dtype=np.float64)
        fallback = np.asarray(cols["fallback"], dtype=bool)
        finite = np.isfinite(scores)  # a NaN score is counted and listed, never binned
        bins = np.clip(
            (np.where(finite, scores, 0.0) * HISTOGRAM_BINS).astype(np.int64),
            0,
            HISTOGRAM_BINS - 1,
        )
        with self._lock:
            self.scores_total += n
            self._tick(now)[0] += n
            hist = self._hist.setdefault(now, {})
            for model in np.unique(models).tolist():
                mask = models == model
                self.by_model[model] += int(mask.sum())
                counts = np.bincount(bins[mask & finite], minlength=HISTOGRAM_BINS)
                hist[model] = hist.get(model, 0) + counts
                if fallback[mask].any():
                    self.fallbacks[model] += int(fallback[mask].sum())
                served = np.asarray(cols["served_by"], dtype=object)[mask]
                self.served_by[model].update(collections.Counter(served.tolist()))
                for i in np.flatnonzero(mask)[-RECENT_PER_MODEL:].tolist():  # newest of the batch
                    row = {k: _plain(cols[k][i]) for k in _RECENT_FIELDS}
                    row["score"] = _finite(round(float(row["score"]), 4))
                    self.recent.appendleft(row)
            while self._hist and next(iter(self._hist)) < now - HISTOGRAM_WINDOW_S:
                self._hist.popitem(last=False)

    def add_dead_letters(self, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        now = int(self._clock())
        with self._lock:
            self.dead_total += len(letters)
            self._tick(now)[1] += len(letters)
            for letter in letters:
                key = (letter.stage.label, reason_class(letter.reason))
                self.dead_by_reason[key] += 1
                samples = self.dead_samples.setdefault(
                    key, collections.deque(maxlen=SAMPLES_PER_REASON)
                )
                samples.appendleft(
                    {
                        "source": f"{letter.source_topic}[{letter.source_partition}]"
                        f"@{letter.source_offset}",
                        "reason": letter.reason[:300],
                        "value": (letter.value or b"")[:120].decode("utf-8", "replace"),
                    }
                )

    def add_model_event(self, key: bytes | None, value: bytes | None) -> None:
        """A record of the compacted model-events topic: JSON, fields as they come (a
        non-finite number, ``NaN`` as older writers wrote it, becomes ``None``)."""
        name = (key or b"").decode("utf-8", "replace")
        if value is None:  # a tombstone
            event: dict[str, Any] = {"deleted": True}
        else:
            try:
                event = json.loads(value, parse_constant=lambda _name: None)
            except ValueError:
                event = {"unreadable": value[:200].decode("utf-8", "replace")}
            if not isinstance(event, dict):
                event = {"value": event}
        event = {"key": name, **event}
        with self._lock:
            self.model_events.appendleft(event)
            self.latest_model_event[name] = event

    def set_registry(self, rows: list[dict]) -> None:
        with self._lock:
            self.registry = rows

    def set_lag(self, rows: list[dict], error: str | None = None) -> None:
        with self._lock:
            self.lag = rows
            self.lag_error = error

    def set_feed_error(self, error: str | None) -> None:
        with self._lock:
            self.feed_error = error

    def set_worker_metrics(self, workers: list[dict], samples: list[tuple[str, dict, float]]):
        """Scraped worker metrics: ``workers`` says which URLs answered; ``samples`` are
        ``(name, labels, value)`` summed over the workers that did."""
        now = self._clock()
        drift = [
            {"task": lab.get("task", ""), "feature": lab.get("feature", ""), "psi": _finite(v)}
            for name, lab, v in samples
            if name == "streamscore_feature_drift_psi"
        ]
        score_drift = {
            lab.get("task", ""): _finite(v)
            for name, lab, v in samples
            if name == "streamscore_score_drift_psi"
        }
        for row in drift:
            row["score_psi"] = score_drift.get(row["task"])
        retrains: dict[str, dict[str, int]] = collections.defaultdict(dict)
        for name, lab, v in samples:
            if name == "streamscore_retrains_total":
                task, outcome = lab.get("task", ""), lab.get("outcome", "")
                retrains[task][outcome] = retrains[task].get(outcome, 0) + int(v)
        not_scored: dict[str, dict[str, int]] = collections.defaultdict(dict)
        for name, lab, v in samples:
            if name == "streamscore_events_not_scored_total":
                task, kind = lab.get("task", ""), lab.get("entity_kind", "")
                not_scored[task][kind] = not_scored[task].get(kind, 0) + int(v)
        cumulative: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0])
        for name, lab, v in samples:
            if name == "streamscore_stage_seconds_sum":
                cumulative[lab.get("stage", "?")][0] += v
            elif name == "streamscore_stage_seconds_count":
                cumulative[lab.get("stage", "?")][1] += v
        with self._lock:
            # End to end: p50/p99 of the interval since the last scrape (see streams.web.latency).
            point: dict[str, Any] = {"t": now, **self._e2e.update(samples)}
            stages = {}
            for key, (total, count) in cumulative.items():
                last = self._last_cumulative.get(key)
                if last is not None and count > last[1]:  # mean over the interval, in ms
                    stages[key] = 1000.0 * (total - last[0]) / (count - last[1])
                self._last_cumulative[key] = (total, count)
            point["stages"] = stages
            self._latency.append(point)
            self.workers = workers
            self.drift = sorted(drift, key=lambda r: (r["task"], -(r["psi"] or 0.0)))
            self.retrains = dict(retrains)
            self.not_scored = dict(not_scored)

    def _tick(self, second: int) -> list[int]:
        rate = self._rate.setdefault(second, [0, 0])
        while self._rate and next(iter(self._rate)) < second - WINDOW_S:
            self._rate.popitem(last=False)
        return rate

    # --- reader (the web server) ---------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything the page shows, as plain JSON values."""
        now = self._clock()
        second = int(now)
        with self._lock:
            per_second = [
                self._rate.get(s, (0, 0)) for s in range(second - WINDOW_S + 1, second + 1)
            ]
            rates = [{"scores": n, "dead": d} for n, d in per_second]
            hist: dict[str, np.ndarray] = {}
            for per_model in self._hist.values():
                for model, counts in per_model.items():
                    hist[model] = hist.get(model, 0) + counts
            models = sorted(
                set(self.by_model) | set(self.not_scored) | {r["task"] for r in self.registry}
            )
            last_10s = sum(r["scores"] for r in rates[-11:-1]) / 10.0
            return {
                "now": now,
                "uptime_s": now - self.started,
                "totals": {
                    "scores": self.scores_total,
                    "not_scored": sum(sum(k.values()) for k in self.not_scored.values()),
                    "dead_letters": self.dead_total,
                    "scores_per_s": last_10s,
                    "model_events": len(self.latest_model_event),
                    "lag": sum(r["lag"] for r in self.lag),
                },
                "recent": list(self.recent),
                "histogram": {
                    "bins": HISTOGRAM_BINS,
                    "window_s": HISTOGRAM_WINDOW_S,
                    "models": {m: c.tolist() for m, c in sorted(hist.items())},
                },
                "rates": rates,
                "latency": list(self._latency),
                "latency_axis_ms": axis_max_ms(self._latency, now),
                "lag": list(self.lag),
                "lag_error": self.lag_error,
                "feed_error": self.feed_error,
                "dead_letters": [
                    {
                        "stage": stage,
                        "reason": reason,
                        "count": n,
                        "samples": list(self.dead_samples.get((stage, reason), ())),
                    }
                    for (stage, reason), n in self.dead_by_reason.most_common(20)
                ],
                "models": [
                    {
                        "task": m,
                        "scores": self.by_model.get(m, 0),
                        "fallbacks": self.fallbacks.get(m, 0),
                        "served_by": dict(self.served_by[m].most_common(5))
                        if m in self.served_by
                        else {},
                        "retrains": self.retrains.get(m, {}),
                        "not_scored": dict(self.not_scored.get(m, {})),
                    }
                    for m in models
                ],
                "registry": list(self.registry),
                "model_events": list(self.model_events),
                "workers": list(self.workers),
                "drift": list(self.drift),
            }


def _finite(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _plain(v: Any) -> Any:
    v = v.item() if hasattr(v, "item") else v
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else v
