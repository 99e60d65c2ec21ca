"""Drift on the stream: feature and score histograms of the snapshots vs the serving reference.

What "drift" should mean to a user of a streaming engine: the traffic the champion scores now
differs from the traffic it was deployed into, *other than by changes that happen by
construction*. Two decisions follow.

1. **The reference is the serving distribution**, not the training rows. After a champion is
   installed the leader's :class:`DriftMonitor` skips ``drift_warmup_rows`` feature snapshots
   (window state warming up on a young stream) and freezes the next ``drift_window_rows`` rows,
   with the champion's scores, as the reference (:func:`kernels.drift.make_reference`: bins from
   those rows' quantiles). Offline training rows differ from any live stream in calendar, state
   age and sampling, which made PSI ~8 on a stream whose behaviour had not changed at all. (The
   training histograms stay in each version's ``drift_reference.npz`` for offline comparison.)
2. **Features that trend by construction are not monitored** (:data:`UNMONITORED`): calendar
   (hour/day of week), tenure, all-time counters (events, sessions), recency, and windows longer
   than a day (7d/30d counts and 7d decays), which keep growing for weeks on a stream that
   started recently. The score depends on those too, so its PSI is exported
   (``SCORE_DRIFT{task}``) but does not alarm on its own.

Then each snapshot batch is binned with the :func:`kernels.drift.bin_counts` kernel; the counts
of the last ``drift_window_rows`` rows are compared with the reference and exported as
``FEATURE_DRIFT{task, feature}`` (the :data:`TOP_FEATURES` most drifted, so label cardinality
stays bounded). A task whose largest monitored-feature PSI exceeds ``drift_threshold`` on a full
window asks for an early retrain, once per drift episode (:data:`REARM`). A promotion resets the
task: the new champion gets a new reference from the traffic it serves.
"""

from __future__ import annotations

import collections
import contextlib
import fnmatch
import logging
import threading
from dataclasses import dataclass, field

import numpy as np

from kernels.drift import bin_counts, make_reference, psi
from streams.settings import Settings

__all__ = ["UNMONITORED", "DriftMonitor", "DriftReading", "monitored"]

_log = logging.getLogger(__name__)

TOP_FEATURES = 10
"""Features per task exported as FEATURE_DRIFT gauges (the highest PSI)."""

REARM = 0.75
"""After an alarm, a task alarms again only once its PSI has fallen below ``REARM x
drift_threshold`` (hysteresis: a PSI hovering at the threshold is one episode, not many)."""

UNMONITORED = (
    "ts_ms.*",  # calendar: hour and day of week move with the clock
    "win.tenure_h",  # grows with every user's age
    "win.n_events",  # all-time counters
    "win.sessions",
    "*.recency_h",  # time since the last X: grows while a type is rare, capped at 90 days
    "*_7d",  # windows and decays over 7 or 30 days fill up for weeks on a young stream
    "*_30d",
)
"""Feature-name patterns (``fnmatch``) left out of drift monitoring: they change by
construction on a stable population, so their PSI says nothing about behaviour."""


def monitored(names: tuple[str, ...]) -> np.ndarray:
    """Boolean mask [d]: which of ``names`` are drift-monitored (none of :data:`UNMONITORED`)."""
    return np.array(
        [not any(fnmatch.fnmatchcase(n, p) for p in UNMONITORED) for n in names], dtype=bool
    )


@dataclass
class DriftReading:
    """The latest PSI of a task: per monitored feature (the top ones), of the score, and on how
    many rows. ``max_psi`` (what alarms) is the largest feature PSI."""

    version: str
    rows: int
    feature_psi: dict[str, float]
    score_psi: float

    @property
    def max_psi(self) -> float:
        return max(self.feature_psi.values(), default=0.0)


@dataclass
class _TaskWindow:
    version: str
    names: tuple[str, ...]  # monitored features
    keep: np.ndarray  # mask over the snapshot's columns
    skipped: int = 0  # warm-up rows seen
    pending: list = field(default_factory=list)  # (X, score) of the reference being gathered
    pending_rows: int = 0
    ref: dict[str, np.ndarray] | None = None
    chunks: collections.deque = field(default_factory=collections.deque)  # (rows, f, s)
    rows: int = 0
    exported: set = field(default_factory=set)
    alarmed: bool = False  # alarmed in this episode (see REARM)


class DriftMonitor:
    """Rolling feature/score drift per task, against the serving reference of its champion."""

    def __init__(self, settings: Settings) -> None:
        from models.registry import ModelRegistry

        self._settings = settings
        self._registry = ModelRegistry.from_settings(settings)
        self._windows: dict[str, _TaskWindow] = {}
        self._lock = threading.Lock()
        self.readings: dict[str, DriftReading] = {}
        self._requests: set[str] = set()

    def observe(self, X: np.ndarray, names: tuple[str, ...], scores: dict[str, np.ndarray]) -> None:
        """Add one snapshot batch: features ``X`` [n, d] and each task's champion scores
        (NaN for the rows the champion did not score, those of other entity kinds: they are
        left out of its drift, as they were of its training)."""
        for task, score in scores.items():
            win = self._window(task, names)
            if win is None or not win.keep.any():
                continue
            s = np.asarray(score, np.float32).reshape(-1, 1)
            x = np.asarray(X, np.float32)[:, win.keep]
            scored = np.isfinite(s[:, 0])
            if not scored.all():
                x, s = x[scored], s[scored]
            x = np.ascontiguousarray(x)
            x, s = self._warm(win, x, s)
            if win.ref is None or not len(s):
                continue
            ref, target = win.ref, self._settings.kernel_target
            fc = bin_counts(x, ref["edges"], ref["n_edges"], target=target)
            sc = bin_counts(s, ref["score_edges"], ref["score_n_edges"], target=target)
            with self._lock:
                win.chunks.append((len(s), fc[:, :-1], sc[:, :-1]))
                win.rows += len(s)
                while (
                    win.chunks and win.rows - win.chunks[0][0] >= self._settings.drift_window_rows
                ):
                    win.rows -= win.chunks.popleft()[0]
                self._export(task, win)

    def take_requests(self) -> set[str]:
        """Tasks that drifted since the last call (each asks once per drift episode)."""
        with self._lock:
            out, self._requests = self._requests, set()
        return out

    def reset(self, task: str) -> None:
        """Forget a task's window (its champion changed: a new reference applies)."""
        with self._lock:
            self._windows.pop(task, None)

    def _warm(
        self, win: _TaskWindow, x: np.ndarray, s: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Skip warm-up rows, gather the reference; returns the rows left to measure."""
        if win.ref is not None:
            return x, s
        skip = min(len(s), self._settings.drift_warmup_rows - win.skipped)
        win.skipped += skip
        x, s = x[skip:], s[skip:]
        take = min(len(s), self._settings.drift_window_rows - win.pending_rows)
        if take:
            win.pending.append((x[:take], s[:take]))
            win.pending_rows += take
        if win.pending_rows < self._settings.drift_window_rows:
            return x[:0], s[:0]
        rx = np.concatenate([p[0] for p in win.pending])
        rs = np.concatenate([p[1] for p in win.pending])
        win.ref, win.pending = make_reference(rx, rs.ravel()), []
        _log.info(
            "drift reference of %s: %d serving rows after %d warm-up rows, %d features",
            win.version,
            win.pending_rows,
            win.skipped,
            len(win.names),
        )
        return x[take:], s[take:]

    def _window(self, task: str, names: tuple[str, ...]) -> _TaskWindow | None:
        champ = self._registry.champion(task)
        if champ is None:
            return None
        win = self._windows.get(task)
        if win is not None and win.version == champ.version:
            return win
        if win is not None:
            for feature in win.exported:
                _remove(task, feature)
        keep = monitored(names)
        win = self._windows[task] = _TaskWindow(
            champ.version, tuple(n for n, k in zip(names, keep, strict=True) if k), keep
        )
        return win

    def _export(self, task: str, win: _TaskWindow) -> None:
        from streams.metrics import FEATURE_DRIFT, SCORE_DRIFT

        f = sum(c[1] for c in win.chunks)
        s = sum(c[2] for c in win.chunks)
        f_psi = psi(win.ref["counts"], f)
        s_psi = float(psi(win.ref["score_counts"], s)[0])
        names = win.names
        top = np.argsort(-f_psi, kind="stable")[:TOP_FEATURES]
        shown = {names[j] for j in top.tolist()}
        for feature in win.exported - shown:
            _remove(task, feature)
        for j in top.tolist():
            FEATURE_DRIFT.labels(task, names[j]).set(float(f_psi[j]))
        win.exported = shown
        SCORE_DRIFT.labels(task).set(s_psi)
        reading = DriftReading(
            win.version, win.rows, {names[j]: float(f_psi[j]) for j in top.tolist()}, s_psi
        )
        self.readings[task] = reading
        threshold = self._settings.drift_threshold
        if win.rows < self._settings.drift_window_rows:
            return
        if win.alarmed and reading.max_psi < REARM * threshold:
            win.alarmed = False
        if reading.max_psi > threshold and not win.alarmed:
            win.alarmed = True
            _log.warning(
                "drift on %s (%s): max feature PSI %.3f (%s) over %d rows; requesting a retrain",
                task,
                win.version,
                reading.max_psi,
                max(reading.feature_psi, key=reading.feature_psi.get),
                win.rows,
            )
            self._requests.add(task)


def _remove(task: str, feature: str) -> None:
    from streams.metrics import FEATURE_DRIFT

    with contextlib.suppress(KeyError):
        FEATURE_DRIFT.remove(task, feature)
