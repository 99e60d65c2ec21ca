"""Per-entity window state: its fixed row layout and the checked batch-update wrapper.

State is one float64 matrix ``state[slot, :]`` with one fixed-width row per entity, so the stream
layer can store a row per entity (a Faust table value) and an unseen entity is simply the zero
row. Times are epoch milliseconds held exactly in float64 (exact below 2**53 ms).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels import _bodies, _cpu
from kernels._target import (
    KernelTarget,
    check_out,
    require,
    resolve_target,
    run_cuda_on_columns,
)
from kernels.errors import KernelInputError

__all__ = ["WindowLayout", "window_update"]

ENTITY_FEATURE_NAMES = (
    "n_events",
    "tenure_h",
    "since_prev_h",
    "session_min",
    "session_events",
    "sessions",
)


@dataclass(frozen=True, slots=True)
class WindowLayout:
    """Shape of the window state and features for ``n_types`` event types.

    ``horizons_ms``: sliding-window widths; ``halflives_ms``: half-lives of the decayed counts;
    ``session_gap_ms``: a longer silence starts a new session; ``recency_cap_ms``: recency and
    gaps are capped here (and "never seen" reads as the cap).

    Row (``row_width`` floats): n_events, first_ts, last_ts, session_start, session_events,
    sessions | bucket id per horizon | per type and horizon: count, previous count, sum,
    previous sum | per type and half-life: decayed count | per type: last time | per type: count.

    Features (``n_features`` floats, in this order): per type and horizon: count, sum | per type
    and half-life: decayed count | per type: recency (h) | the entity's n_events, tenure_h,
    since_prev_h, session_min, session_events, sessions.
    """

    n_types: int
    horizons_ms: tuple[float, ...]
    halflives_ms: tuple[float, ...]
    session_gap_ms: float
    recency_cap_ms: float

    def __post_init__(self) -> None:
        problems = []
        if self.n_types < 1:
            problems.append(f"n_types >= 1, got {self.n_types}")
        if not self.horizons_ms or min(self.horizons_ms) <= 0:
            problems.append(f"positive horizons, got {self.horizons_ms}")
        if any(h <= 0 for h in self.halflives_ms):
            problems.append(f"positive half-lives, got {self.halflives_ms}")
        if self.session_gap_ms <= 0 or self.recency_cap_ms <= 0:
            problems.append(
                f"positive session gap and recency cap, got {self.session_gap_ms}, "
                f"{self.recency_cap_ms}"
            )
        if problems:
            raise KernelInputError("window layout: expected " + "; ".join(problems))

    @property
    def row_width(self) -> int:
        h, d, t = len(self.horizons_ms), len(self.halflives_ms), self.n_types
        return _bodies.ROW_HEADER + h + t * h * 4 + t * d + 2 * t

    @property
    def n_features(self) -> int:
        h, d, t = len(self.horizons_ms), len(self.halflives_ms), self.n_types
        return t * h * 2 + t * d + t + _bodies.ENTITY_FEATURES

    def feature_names(
        self,
        type_names: tuple[str, ...],
        horizon_labels: tuple[str, ...],
        halflife_labels: tuple[str, ...],
        prefix: str = "win",
    ) -> tuple[str, ...]:
        """Names of the feature columns, e.g. ``win.purchase.sum_7d``, ``win.login.recency_h``."""
        names = [
            f"{prefix}.{t}.{kind}_{h}"
            for t in type_names
            for h in horizon_labels
            for kind in ("count", "sum")
        ]
        names += [f"{prefix}.{t}.decay_{d}" for t in type_names for d in halflife_labels]
        names += [f"{prefix}.{t}.recency_h" for t in type_names]
        names += [f"{prefix}.{e}" for e in ENTITY_FEATURE_NAMES]
        if len(names) != self.n_features:
            raise KernelInputError(
                f"window feature names: expected {self.n_types} types, "
                f"{len(self.horizons_ms)} horizon and {len(self.halflives_ms)} half-life labels, "
                f"got {len(type_names)}, {len(horizon_labels)}, {len(halflife_labels)}"
            )
        return tuple(names)

    def new_state(self, capacity: int) -> np.ndarray:
        """A zero state matrix (every entity unseen) with ``capacity`` rows."""
        return np.zeros((capacity, self.row_width), dtype=np.float64)


def window_update(
    ts: np.ndarray,
    slot: np.ndarray,
    type_id: np.ndarray,
    value: np.ndarray,
    layout: WindowLayout,
    state: np.ndarray,
    out: np.ndarray | None = None,
    col0: int = 0,
    *,
    target: KernelTarget = "cpu",
) -> np.ndarray:
    """Apply a batch of events, in the given (arrival) order, to ``state``; write features.

    ``ts`` epoch ms (int64), ``slot`` the entity's state row, ``type_id`` in
    ``[0, layout.n_types)``, ``value`` the amount summed by the windows (float64, NaN adds 0).
    ``state`` (float64, ``layout.row_width`` columns) is updated in place. Row ``i`` of ``out``
    (float32, C order) gets event ``i``'s entity features *after* applying it, in columns
    ``col0 .. col0 + layout.n_features``; a new matrix is made when ``out`` is None.
    Raises :class:`KernelInputError` for mismatched lengths, dtypes or out-of-range slots/types.
    """
    ts = require("window ts", ts, np.int64, 1)
    n = ts.shape[0]
    slot = require("window slot", slot, np.int64, 1)
    type_id = require("window type_id", type_id, np.int64, 1)
    value = require("window value", value, np.float64, 1)
    if not slot.shape[0] == type_id.shape[0] == value.shape[0] == n:
        raise KernelInputError(
            f"window update: expected ts, slot, type_id, value of one length, got "
            f"{n}, {slot.shape[0]}, {type_id.shape[0]}, {value.shape[0]}"
        )
    check_out("window state", state, np.float64, None, layout.row_width)
    if state.shape[1] != layout.row_width:
        raise KernelInputError(
            f"window state: expected {layout.row_width} columns, got {state.shape[1]}"
        )
    if out is None:
        out = np.zeros((n, layout.n_features), dtype=np.float32)
        col0 = 0
    check_out("window features out", out, np.float32, n, int(col0) + layout.n_features)
    if n and (slot.min() < 0 or slot.max() >= state.shape[0]):
        raise KernelInputError(
            f"window slot: expected 0..{state.shape[0] - 1}, got {slot.min()}..{slot.max()}"
        )
    if n and (type_id.min() < 0 or type_id.max() >= layout.n_types):
        raise KernelInputError(
            f"window type_id: expected 0..{layout.n_types - 1}, "
            f"got {type_id.min()}..{type_id.max()}"
        )
    horizons = np.asarray(layout.horizons_ms, dtype=np.float64)
    halflives = np.asarray(layout.halflives_ms, dtype=np.float64)
    scalars = (float(layout.session_gap_ms), float(layout.recency_cap_ms), int(layout.n_types))
    if resolve_target(target) == "cuda":
        _update_cuda(
            ts,
            slot,
            type_id,
            value,
            horizons,
            halflives,
            scalars,
            state,
            out,
            col0,
            layout.n_features,
        )
    else:
        _cpu.window_update(
            ts, slot, type_id, value, horizons, halflives, *scalars, state, out, int(col0)
        )
    return out


def _update_cuda(ts, slot, type_id, value, horizons, halflives, scalars, state, out, col0, width):
    """CUDA: copy only the batch's entity rows, one thread per entity, then write them back."""
    from kernels import _cuda

    uniq, local, counts = np.unique(slot, return_inverse=True, return_counts=True)
    local = local.astype(np.int64).reshape(-1)
    rows = np.ascontiguousarray(state[uniq])
    order = np.argsort(local, kind="stable").astype(np.int64)  # arrival order within entity
    starts = np.zeros(uniq.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    args = [
        ts,
        local,
        type_id,
        value,
        horizons,
        halflives,
        *scalars,
        rows,
        out,
        int(col0),
        order,
        starts,
    ]
    # Only the entities' rows and the window columns of `out` cross to the GPU and back.
    run_cuda_on_columns(_cuda.window_update, uniq.shape[0], args, 10, 11, width, [9])
    state[uniq] = rows
