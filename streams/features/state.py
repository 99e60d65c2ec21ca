"""Per-entity window state as plain arrays, with one fixed-size numeric row per entity.

The stream layer keeps a row per entity in a Faust table: before a batch it imports the rows of
the batch's entities (:meth:`WindowState.import_rows`), after it exports them
(:meth:`WindowState.export_rows`). An entity never seen is the zero row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kernels import WindowLayout
from streams.features.errors import FeatureInputError

__all__ = ["WindowState"]


class WindowState:
    """Rows of float64 window state (``layout.row_width`` wide) and the entity -> row map.

    Not thread-safe: one state belongs to one worker/partition at a time.
    """

    def __init__(self, layout: WindowLayout, capacity: int = 1024) -> None:
        self.layout = layout
        self._slots: dict[str, int] = {}
        self._array = layout.new_state(max(int(capacity), 1))

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, entity: object) -> bool:
        return entity in self._slots

    @property
    def row_width(self) -> int:
        """Floats per entity row."""
        return self.layout.row_width

    @property
    def array(self) -> np.ndarray:
        """The state rows in use, ``[len(self), row_width]`` (a view: the kernel's input)."""
        return self._array[: len(self._slots)]

    def entities(self) -> list[str]:
        """Every entity with a row, in the order rows were given out."""
        return list(self._slots)

    def slots_for(self, entities: Any) -> np.ndarray:
        """Row index (int64) of each entity of a batch, giving rows to new ones.

        ``entities``: a pyarrow string (chunked) array or a sequence of str. Python work is per
        *distinct* entity of the batch (dictionary encoding), not per event. Raises
        :class:`FeatureInputError` on a null entity.
        """
        arr = _as_string_array(entities)
        if arr.null_count:
            raise FeatureInputError(
                f"featurising events: expected an entity on every event, found "
                f"{arr.null_count} null(s)"
            )
        encoded = pc.dictionary_encode(arr)
        distinct = encoded.dictionary.to_pylist()
        slots = self._slots
        try:  # every entity has a row (imported before the batch): one C loop
            local = np.fromiter(map(slots.__getitem__, distinct), np.int64, len(distinct))
        except KeyError:
            next_slot = len(slots)
            local = np.empty(len(distinct), dtype=np.int64)
            for k, name in enumerate(distinct):
                slot = slots.get(name)
                if slot is None:
                    slot = slots[name] = next_slot
                    next_slot += 1
                local[k] = slot
            self._reserve(next_slot)
        return local[encoded.indices.to_numpy(zero_copy_only=False)]

    def export_rows(self, entities: Sequence[str]) -> np.ndarray:
        """A copy of each entity's row, ``[len(entities), row_width]``; zero rows for unseen."""
        n = len(self._slots)
        slots = np.fromiter(map(self._slots.get, entities, [n] * len(entities)), np.int64)
        if n == self._array.shape[0]:
            self._reserve(n + 1)  # row n: a zero row for entities without one
        self._array[n] = 0.0
        return self._array[slots]

    def import_rows(self, entities: Sequence[str], rows: np.ndarray) -> None:
        """Set each entity's row (e.g. from a Faust table), adding entities as needed.

        Raises :class:`FeatureInputError` when ``rows`` is not ``[len(entities), row_width]``.
        """
        rows = np.asarray(rows, dtype=np.float64)
        if rows.shape != (len(entities), self.row_width):
            raise FeatureInputError(
                f"importing window state: expected rows of shape "
                f"({len(entities)}, {self.row_width}), got {rows.shape}"
            )
        if not self._slots and len(set(entities)) == len(entities) and None not in entities:
            # A fresh state and distinct entities (how the stream layer imports a batch's
            # rows): entity k gets row k, with no Arrow round trip.
            self._slots = dict(zip(entities, range(len(entities)), strict=True))
            self._reserve(len(entities))
            self._array[: len(entities)] = rows
            return
        slots = self.slots_for(list(entities))
        self._array[slots] = rows

    def _reserve(self, n: int) -> None:
        if n > self._array.shape[0]:
            bigger = self.layout.new_state(max(n, 2 * self._array.shape[0]))
            bigger[: self._array.shape[0]] = self._array
            self._array = bigger

    @property
    def full_array(self) -> np.ndarray:
        """Every allocated row (used rows first); what the window kernel updates in place."""
        return self._array


def _as_string_array(values: Any) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        values = pa.array(values, type=pa.string())
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = values.cast(pa.string())
    return values
