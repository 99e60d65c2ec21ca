"""Which events get a feature-snapshot row (``STREAMSCORE_SNAPSHOTS``), and what that costs
retraining.

A snapshot row is what the models saw for one event: entity, event time, feature vector, every
score. Retraining (:mod:`streams.learning.join`) labels an outcome (entity, decision time) with
the entity's last snapshot row strictly before the decision, and draws extra training rows
uniformly from the entity's rows in the week before it; drift monitoring bins the rows. The
modes:

``all`` (default)
    A row for every event. The join is exact: the as-of row is the features the model scored
    for the entity's last event before the decision, as offline training builds it.
``sample:<fraction>``
    A row for the events whose event id hashes below ``fraction`` (FNV-1a of the UTF-8 id,
    fixed seed): the same events in every worker, batch split and replay, about ``fraction``
    of them. The join becomes approximate: the as-of row is the entity's last *sampled* event
    before the decision, which may be older than its last event (its features staler), and an
    entity with no sampled event in the window gets no training row, so labels are dropped
    (about ``(1 - fraction) ** k`` of the decisions whose entity had ``k`` events in the
    window). Drift is measured on the sample.
``none``
    No snapshots: the leader cannot retrain from the streams or measure drift (its collector
    sees no rows); scoring is unaffected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa

from kernels import hash_strings
from streams.errors import ConfigError
from streams.settings import SNAPSHOT_MODES

__all__ = ["SnapshotPolicy"]

_HASH_BITS = 30
_HASH_SEED = 0x5EED_5A3B  # fixed forever: changing it changes which events are sampled


@dataclass(frozen=True, slots=True)
class SnapshotPolicy:
    """Parsed snapshot mode (see the module docstring); :meth:`parse` builds one from text."""

    mode: Literal["all", "none", "sample"] = "all"
    fraction: float = 1.0

    @classmethod
    def parse(cls, text: str | SnapshotPolicy) -> SnapshotPolicy:
        """``all``, ``none`` or ``sample:<fraction>``; :class:`ConfigError` otherwise."""
        if isinstance(text, SnapshotPolicy):
            return text
        if not isinstance(text, str) or not re.match(SNAPSHOT_MODES, text.strip()):
            raise ConfigError(
                "feature snapshots: expected all, none or sample:<fraction in (0, 1]>, "
                f"got {text!r}"
            )
        text = text.strip()
        if text.startswith("sample:"):
            fraction = float(text.split(":", 1)[1])
            return cls("all") if fraction >= 1.0 else cls("sample", fraction)
        return cls(text)  # type: ignore[arg-type]

    def rows(self, event_id: pa.Array) -> np.ndarray | None:
        """Indices of the events that get a snapshot row; None means every event."""
        if self.mode == "all":
            return None
        if self.mode == "none" or not len(event_id):
            return np.zeros(0, dtype=np.int64)
        bucket = hash_strings(event_id, _HASH_BITS, _HASH_SEED, target="cpu")
        return np.flatnonzero(bucket < int(self.fraction * (1 << _HASH_BITS)))

    def __str__(self) -> str:
        return f"sample:{self.fraction:g}" if self.mode == "sample" else self.mode
