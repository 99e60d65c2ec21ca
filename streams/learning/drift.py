"""Drift on the stream: feature and score histograms of the snapshots vs the training reference.

Each champion version carries ``drift_reference.npz`` (:func:`kernels.drift.make_reference`).
:class:`DriftMonitor` bins every feature-snapshot batch with the :func:`kernels.drift.bin_counts`
kernel, keeps the counts of the last ``drift_window_rows`` rows, and exports the population
stability index as ``FEATURE_DRIFT{task, feature}`` (the :data:`TOP_FEATURES` most drifted
features, so label cardinality stays bounded) and ``SCORE_DRIFT{task}``. A task whose PSI
exceeds ``drift_threshold`` on a full window asks for an early retrain.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
from dataclasses import dataclass, field

import numpy as np

from kernels.drift import bin_counts, psi
from streams.settings import Settings

__all__ = ["DriftMonitor", "DriftReading"]

_log = logging.getLogger(__name__)

TOP_FEATURES = 10
"""Features per task exported as FEATURE_DRIFT gauges (the highest PSI)."""


@dataclass
class DriftReading:
    """The latest PSI of a task: per feature, of the score, and on how many rows."""

    version: str
    rows: int
    feature_psi: dict[str, float]
    score_psi: float

    @property
    def max_psi(self) -> float:
        return max([self.score_psi, *self.feature_psi.values()], default=0.0)


@dataclass
class _TaskWindow:
    version: str
    ref: dict[str, np.ndarray]
    chunks: collections.deque = field(default_factory=collections.deque)  # (rows, f, s)
    rows: int = 0
    exported: set = field(default_factory=set)


class DriftMonitor:
    """Rolling feature/score drift per task, against its champion's training reference."""

    def __init__(self, settings: Settings) -> None:
        from models.registry import ModelRegistry

        self._settings = settings
        self._registry = ModelRegistry.from_settings(settings)
        self._windows: dict[str, _TaskWindow] = {}
        self._lock = threading.Lock()
        self.readings: dict[str, DriftReading] = {}
        self._requests: set[str] = set()

    def observe(self, X: np.ndarray, names: tuple[str, ...], scores: dict[str, np.ndarray]) -> None:  # noqa: N803
        """Add one snapshot batch: features ``X`` [n, d] and each task's champion scores."""
        for task, score in scores.items():
            win = self._window(task, names)
            if win is None:
                continue
            ref = win.ref
            f = bin_counts(X, ref["edges"], ref["n_edges"], target=self._settings.kernel_target)
            s = bin_counts(
                np.asarray(score, np.float32).reshape(-1, 1),
                ref["score_edges"],
                ref["score_n_edges"],
                target=self._settings.kernel_target,
            )
            with self._lock:
                win.chunks.append((len(score), f[:, :-1], s[:, :-1]))
                win.rows += len(score)
                while (
                    win.chunks and win.rows - win.chunks[0][0] >= self._settings.drift_window_rows
                ):
                    win.rows -= win.chunks.popleft()[0]
                self._export(task, win, names)

    def take_requests(self) -> set[str]:
        """Tasks that drifted since the last call (each asks once per drift episode)."""
        with self._lock:
            out, self._requests = self._requests, set()
        return out

    def reset(self, task: str) -> None:
        """Forget a task's window (its champion changed: a new reference applies)."""
        with self._lock:
            self._windows.pop(task, None)

    def _window(self, task: str, names: tuple[str, ...]) -> _TaskWindow | None:
        champ = self._registry.champion(task)
        if champ is None:
            return None
        win = self._windows.get(task)
        if win is not None and win.version == champ.version:
            return win
        path = champ.path / "drift_reference.npz"
        if not path.exists():
            return None
        with np.load(path) as z:
            ref = {k: z[k] for k in z.files}
        if ref["edges"].shape[0] != len(names):
            _log.warning(
                "drift reference of %s/%s has other features; skipped", task, champ.version
            )
            return None
        if win is not None:
            for feature in win.exported:
                _remove(task, feature)
        win = self._windows[task] = _TaskWindow(champ.version, ref)
        return win

    def _export(self, task: str, win: _TaskWindow, names: tuple[str, ...]) -> None:
        from streams.metrics import FEATURE_DRIFT, SCORE_DRIFT

        f = sum(c[1] for c in win.chunks)
        s = sum(c[2] for c in win.chunks)
        f_psi = psi(win.ref["counts"], f)
        s_psi = float(psi(win.ref["score_counts"], s)[0])
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
        before = self.readings.get(task)
        self.readings[task] = reading
        drifted = reading.max_psi > self._settings.drift_threshold
        full = win.rows >= self._settings.drift_window_rows
        was = (
            before is not None
            and before.version == win.version
            and (
                before.max_psi > self._settings.drift_threshold
                and before.rows >= self._settings.drift_window_rows
            )
        )
        if drifted and full and not was:
            _log.warning(
                "drift on %s (%s): max PSI %.3f over %d rows; requesting a retrain",
                task,
                win.version,
                reading.max_psi,
                win.rows,
            )
            self._requests.add(task)


def _remove(task: str, feature: str) -> None:
    from streams.metrics import FEATURE_DRIFT

    with contextlib.suppress(KeyError):
        FEATURE_DRIFT.remove(task, feature)
