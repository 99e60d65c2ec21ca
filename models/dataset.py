"""Labelled feature sets: the feature pipeline's vectors joined to delayed labels, as of the
decision time.

For a label (entity, decision time t) the feature vector is the one the pipeline produced right
after that entity's last event strictly before t: exactly what the online path would have held
in its window state at t, so nothing at or after the decision leaks in. Labels of entities with
no event before t are dropped (counted in ``dropped``).

Training rows can also be *sampled* (``samples_per_label=k``): besides the as-of row, k rows
drawn uniformly, with replacement, from the entity's feature rows in ``[t - sample_window_ms,
t)`` (the last row when there is none). Online, a model scores the row after *every* event
(mid-session views as well as the session end that usually precedes a decision); trained on
last rows only, it extrapolated wildly on the others (83% of per-event churn scores > 0.99).
Sampled rows match the serving distribution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from models.errors import ModelError

__all__ = ["LabelledSet", "build_labelled_set", "held_out"]


def held_out(entities, share: float, seed: int = 0) -> np.ndarray:
    """Boolean mask: which of ``entities`` (strings) belong to the held-out population.

    Decided per entity by a salted CRC32 of its id, so the same user is held out for every
    task and every table, whichever other entities are present."""
    import zlib

    uniq, inv = np.unique(np.asarray(entities, dtype=object).astype(str), return_inverse=True)
    salt = f"{seed}:".encode()
    cut = int(share * 2**32)
    held = np.array([zlib.crc32(salt + e.encode()) < cut for e in uniq.tolist()], dtype=bool)
    return held[inv] if len(uniq) else np.zeros(0, dtype=bool)


_TS_BITS = 41  # ms offsets up to ~69 years; entity codes take the bits above


@dataclass
class LabelledSet:
    """Rows of features ``X`` float32 [n, d] (columns ``names``) with labels ``y`` in {0, 1}."""

    X: np.ndarray
    y: np.ndarray
    true_p: np.ndarray  # simulator's probability (NaN when unknown)
    entity: np.ndarray  # object array of entity ids
    decision_ts_ms: np.ndarray
    names: tuple[str, ...]
    fingerprint: str
    dropped: int = 0

    def __len__(self) -> int:
        return len(self.y)

    def take(self, index: np.ndarray) -> LabelledSet:
        return LabelledSet(
            self.X[index],
            self.y[index],
            self.true_p[index],
            self.entity[index],
            self.decision_ts_ms[index],
            self.names,
            self.fingerprint,
            0,
        )

    def split_by_entity(self, holdout: float, seed: int = 0) -> tuple[LabelledSet, LabelledSet]:
        """(train, held-out) with every entity entirely on one side (see :func:`held_out`)."""
        mask = held_out(self.entity, holdout, seed)
        return self.take(np.flatnonzero(~mask)), self.take(np.flatnonzero(mask))

    def time_range(self) -> dict[str, Any]:
        ts = self.decision_ts_ms
        return {
            "start_ms": int(ts.min()) if len(ts) else None,
            "end_ms": int(ts.max()) if len(ts) else None,
            "rows": len(self),
        }


def build_labelled_set(
    fitted,
    events: pa.Table,
    labels: pa.Table,
    *,
    task: str | None = None,
    chunk_rows: int = 262_144,
    progress: bool = False,
    samples_per_label: int = 0,
    sample_window_ms: int = 7 * 86_400_000,
    seed: int = 0,
) -> LabelledSet:
    """Join ``labels`` (``LABEL_SCHEMA``; only ``task`` if given) to the features of ``events``
    (``EVENT_SCHEMA``, in arrival order) computed by ``fitted`` (a FittedPipeline) with a fresh
    window state, in chunks of ``chunk_rows`` events (memory stays O(k x labels x features)).
    ``samples_per_label=0`` gives one as-of row per label; ``k > 0`` gives the as-of rows
    followed by k blocks of sampled rows (see the module docstring): rows ``j * n .. (j + 1) * n``
    are block j, block 0 being the as-of rows.
    """
    if task is not None:
        labels = labels.filter(pc.equal(labels["task"], task))
    if labels.num_rows == 0:
        raise ModelError(f"building a labelled set: expected labels for task {task!r}, found none")
    entities = labels["entity"].combine_chunks()
    uniq = pc.unique(entities)
    if len(uniq) >= 1 << (63 - _TS_BITS):
        raise ModelError(f"building a labelled set: too many entities ({len(uniq)})")
    decision = labels["decision_ts_ms"].to_numpy()
    # Only events of labelled entities before the last decision can matter (state is per entity).
    keep = pc.and_(
        pc.is_in(events["entity"], value_set=uniq), pc.less(events["ts_ms"], int(decision.max()))
    )
    events = events.filter(keep)
    k, window = int(samples_per_label), int(sample_window_ms)
    # t0 below every window start, so a key range never reaches into another entity's keys.
    t0 = min(int(decision.min()) - window, int(pc.min(events["ts_ms"]).as_py() or 0)) - 1
    l_code = pc.index_in(entities, value_set=uniq).to_numpy().astype(np.int64)
    l_key = (l_code << _TS_BITS) + (decision - t0)
    names = tuple(fitted.names)
    X = np.zeros((labels.num_rows, len(names)), dtype=np.float32)
    have = np.zeros(labels.num_rows, dtype=bool)
    XS = np.zeros((k, labels.num_rows, len(names)), dtype=np.float32)
    seen = np.zeros(labels.num_rows, dtype=np.int64)  # window rows met so far, per label
    rng = np.random.default_rng(seed)
    state = fitted.new_state()
    batches = events.to_batches(max_chunksize=chunk_rows)
    if progress:
        from tqdm import tqdm

        batches = tqdm(batches, desc=f"features {task or ''}".strip(), unit="batch")
    for batch in batches:
        fb = fitted.transform(batch, state)
        if len(fb) == 0:
            continue
        code = pc.index_in(fb.entity, value_set=uniq).to_numpy(zero_copy_only=False)
        rows = np.flatnonzero(code >= 0)
        key = (code[rows].astype(np.int64) << _TS_BITS) + (fb.ts_ms[rows] - t0)
        order = np.argsort(key, kind="stable")  # equal keys: the later event wins below
        key = key[order]
        pos = np.searchsorted(key, l_key, side="left") - 1
        ok = pos >= 0
        ok[ok] = (key[pos[ok]] >> _TS_BITS) == l_code[ok]
        X[ok] = fb.X[rows[order[pos[ok]]]]
        have |= ok
        if k:  # one reservoir of size 1 per draw: uniform over all window rows, any chunking
            lo = np.searchsorted(key, l_key - window, side="left")
            count = pos + 1 - lo
            for j in range(k):
                take = (count > 0) & (rng.random(len(count)) * (seen + count) < count)
                pick = lo[take] + (rng.random(int(take.sum())) * count[take]).astype(np.int64)
                XS[j, take] = fb.X[rows[order[pick]]]
            seen += count
    idx = np.flatnonzero(have)
    true_p = (
        labels["true_p"].to_numpy()
        if "true_p" in labels.column_names
        else np.full(labels.num_rows, np.nan)
    )
    if k:
        XS[:, seen == 0] = X[seen == 0]  # no row in the window: the last row stands in
        X_out = np.concatenate([X[idx], XS[:, idx].reshape(k * len(idx), len(names))])
        idx = np.tile(idx, k + 1)
    else:
        X_out = X[idx]
    return LabelledSet(
        X=X_out,
        y=labels["label"].to_numpy().astype(np.int8)[idx],
        true_p=true_p[idx],
        entity=np.asarray(entities.to_pylist(), dtype=object)[idx],
        decision_ts_ms=decision[idx],
        names=names,
        fingerprint=fitted.fingerprint,
        dropped=int((~have).sum()),
    )
