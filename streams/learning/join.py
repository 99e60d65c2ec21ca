"""Point-in-time join of feature snapshots (what the models saw) with delayed outcomes.

The worker publishes, per batch, a snapshot row per event: entity, event time ``ts_ms`` and the
feature vector right after that event (the window state the model scored). An outcome says:
for ``entity``, the decision at ``decision_ts`` had label ``label``, known at ``label_ts``.

The join follows :func:`models.dataset.build_labelled_set` (how offline training sets are
built), so online-trained models see the rows offline ones do:

- the *as-of row* of an outcome is the entity's snapshot row with the latest ``ts_ms`` strictly
  before ``decision_ts`` and not older than ``window_ms``: the features as they were when the
  decision was scored; nothing at or after the decision leaks in;
- an outcome whose entity has no such row is dropped (counted), never labelled from later rows;
- only outcomes that arrived are used, so a snapshot row whose horizon has not passed yet gets
  no label at all (no false negatives from labels still in flight);
- an outcome with ``label_ts`` before ``decision_ts`` or after ``decision_ts + horizon`` is
  malformed and dropped;
- optionally ``samples_per_label`` extra rows drawn uniformly from the entity's rows in
  ``[decision_ts - window_ms, decision_ts)`` (training only: the model then also learns the
  mid-session rows it scores online).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.dataset import LabelledSet

__all__ = ["Outcomes", "Snapshots", "point_in_time_join"]

DAY_MS = 86_400_000


@dataclass
class Snapshots:
    """Feature snapshot rows: ``entity`` object [n], ``ts_ms`` int64 [n], ``X`` float32 [n, d]."""

    entity: np.ndarray
    ts_ms: np.ndarray
    X: np.ndarray
    names: tuple[str, ...]
    fingerprint: str

    def __len__(self) -> int:
        return len(self.ts_ms)


@dataclass
class Outcomes:
    """Delayed labels of one task: ``entity`` object [m], times int64 [m], ``label`` int8 [m]."""

    entity: np.ndarray
    decision_ts: np.ndarray
    label_ts: np.ndarray
    label: np.ndarray

    def __len__(self) -> int:
        return len(self.label)


@dataclass
class JoinResult:
    """As-of rows (one per usable outcome, in decision-time order) and the sampled extras."""

    as_of: LabelledSet
    sampled: LabelledSet | None
    dropped_no_row: int
    dropped_malformed: int


def point_in_time_join(
    snaps: Snapshots,
    outcomes: Outcomes,
    *,
    horizon_ms: int = 7 * DAY_MS,
    window_ms: int = 7 * DAY_MS,
    samples_per_label: int = 0,
    seed: int = 0,
) -> JoinResult:
    """Label snapshot rows with outcomes as of each decision time (see the module docstring)."""
    ok = (outcomes.label_ts >= outcomes.decision_ts) & (
        outcomes.label_ts <= outcomes.decision_ts + horizon_ms
    )
    malformed = int((~ok).sum())
    o_ent = np.asarray(outcomes.entity, dtype=object)[ok]
    o_dec = np.asarray(outcomes.decision_ts, dtype=np.int64)[ok]
    o_lab = np.asarray(outcomes.label, dtype=np.int8)[ok]
    # Code entities jointly, then sort snapshot rows by (entity, time): one searchsorted finds
    # every as-of row.
    s_ent = np.asarray(snaps.entity, dtype=object)
    uniq, codes = np.unique(np.concatenate([s_ent, o_ent]).astype(str), return_inverse=True)
    s_code, o_code = codes[: len(s_ent)].astype(np.int64), codes[len(s_ent) :].astype(np.int64)
    s_ts = np.asarray(snaps.ts_ms, dtype=np.int64)
    order = np.lexsort((s_ts, s_code))
    sc, st = s_code[order], s_ts[order]
    # Rows of entity e before time t: those (sc, st) < (e, t) lexicographically.
    hi = _lex_searchsorted(sc, st, o_code, o_dec)  # first row >= (e, decision)
    lo = _lex_searchsorted(sc, st, o_code, o_dec - window_ms)
    count = hi - lo
    have = count > 0  # hi-1 is the entity's latest row before the decision, within the window
    idx = np.flatnonzero(have)
    dec_order = idx[np.argsort(o_dec[idx], kind="stable")]
    rows = order[hi[dec_order] - 1]

    def labelled(snap_rows: np.ndarray, out_rows: np.ndarray) -> LabelledSet:
        return LabelledSet(
            X=np.ascontiguousarray(snaps.X[snap_rows], dtype=np.float32),
            y=o_lab[out_rows],
            true_p=np.full(len(out_rows), np.nan),
            entity=o_ent[out_rows],
            decision_ts_ms=o_dec[out_rows],
            names=snaps.names,
            fingerprint=snaps.fingerprint,
        )

    as_of = labelled(rows, dec_order)
    sampled = None
    if samples_per_label:
        rng = np.random.default_rng(seed)
        k = int(samples_per_label)
        rep = np.repeat(dec_order, k)
        pick = lo[rep] + (rng.random(len(rep)) * count[rep]).astype(np.int64)
        sampled = labelled(order[pick], rep)
    return JoinResult(as_of, sampled, int((~have).sum()), malformed)


def _lex_searchsorted(
    codes: np.ndarray, ts: np.ndarray, q_codes: np.ndarray, q_ts: np.ndarray
) -> np.ndarray:
    """Index of the first (code, ts) pair >= each query in rows sorted by (code, ts)."""
    start = np.searchsorted(codes, q_codes, side="left")
    stop = np.searchsorted(codes, q_codes, side="right")
    out = np.empty(len(q_codes), dtype=np.int64)
    # Per query, search ts only inside its entity's run: vectorised by offsetting each run's
    # times into one monotone key (code * span + ts - t0).
    if len(ts):
        t0 = min(int(ts.min()), int(q_ts.min()) if len(q_ts) else 0)
        span = max(int(ts.max()), int(q_ts.max()) if len(q_ts) else 0) - t0 + 2
        key = codes * span + (ts - t0)
        q_key = q_codes * span + np.clip(q_ts - t0, 0, span - 1)
        out[:] = np.searchsorted(key, q_key, side="left")
        out = np.clip(out, start, stop)
    else:
        out[:] = 0
    return out
