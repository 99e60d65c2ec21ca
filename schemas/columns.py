"""The columns of one scored micro-batch: what the scoring stage hands to the score codecs."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from schemas._wire import StrColumn
from schemas.errors import CodecError

__all__ = ["SCORE_FIELDS", "ScoreColumns"]

SCORE_FIELDS: tuple[str, ...] = (
    "event_id",
    "entity",
    "model_name",
    "model_version",
    "score",
    "decision",
    "fallback",
    "served_by",
    "event_time_ms",
    "scored_time_ms",
)
"""Field names of ``ScoreResult``/``ScoreBatch`` in schema (slot) order."""

# name -> (dtype, accepted NumPy kinds); float scores may arrive as float64 from a model.
_NUMERIC = {
    "score": (np.dtype("<f4"), "fiu"),
    "decision": (np.dtype("?"), "b"),
    "fallback": (np.dtype("?"), "b"),
    "event_time_ms": (np.dtype("<i8"), "iu"),
    "scored_time_ms": (np.dtype("<i8"), "iu"),
}
_STRINGS = ("event_id", "entity", "served_by")


@dataclass(frozen=True, slots=True, eq=False)
class ScoreColumns:
    """Scores of ``n`` events from one model call, one column per ``ScoreResult`` field.

    ``model_name``/``model_version`` are the model that was asked (one per batch: a model is
    called once per batch). Per event: ``event_id``, ``entity`` and ``served_by``
    (``"name@version"`` of the model that actually produced the score) are string columns (list,
    NumPy or Arrow);
    ``score`` is a probability (float32), ``decision`` and ``fallback`` are bool, times are UTC
    epoch milliseconds (int64). Numeric columns are converted to those dtypes on construction.

    Raises :class:`CodecError` when a column has the wrong length, is not 1-D, or has a dtype
    that would lose meaning on conversion (e.g. float times, int decisions).
    """

    model_name: str
    model_version: str
    event_id: StrColumn
    entity: StrColumn
    score: np.ndarray
    decision: np.ndarray
    fallback: np.ndarray
    served_by: StrColumn
    event_time_ms: np.ndarray
    scored_time_ms: np.ndarray

    def __post_init__(self) -> None:
        for name in ("model_name", "model_version"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise CodecError(
                    f"building ScoreColumns: expected {name} to be a str, "
                    f"got {value!r} ({type(value).__name__})"
                )
        n = len(self.event_id)
        for name in _STRINGS:
            if len(getattr(self, name)) != n:
                raise CodecError(
                    f"building ScoreColumns: expected column {name!r} to have {n} values "
                    f"(like event_id), got {len(getattr(self, name))}"
                )
        for name, (dtype, kinds) in _NUMERIC.items():
            raw = np.asarray(getattr(self, name))
            if raw.ndim != 1 or len(raw) != n:
                raise CodecError(
                    f"building ScoreColumns: expected column {name!r} to be 1-D with {n} values, "
                    f"got shape {raw.shape}"
                )
            if raw.dtype.kind not in kinds and not (n == 0 and raw.dtype.kind == "f"):
                raise CodecError(
                    f"building ScoreColumns: expected column {name!r} to hold {dtype} "
                    f"(NumPy kind in {kinds!r}), got dtype {raw.dtype}"
                )
            object.__setattr__(self, name, np.ascontiguousarray(raw, dtype=dtype))

    def __len__(self) -> int:
        return len(self.event_id)

    def slice(self, start: int, stop: int) -> ScoreColumns:
        """Events ``start:stop`` as new columns (NumPy and Arrow slices are views, not copies)."""
        cut = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in _STRINGS + tuple(_NUMERIC):
            cut[name] = cut[name][start:stop]
        return ScoreColumns(**cut)

    def to_dict(self) -> dict[str, Any]:
        """Per-event columns keyed by :data:`SCORE_FIELDS`; the model columns are repeated.

        String columns come back as NumPy object arrays; this is the shape
        :func:`schemas.codec.decode_score_results` returns, so the two compare directly.
        """
        n = len(self)
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("model_name", "model_version"):
                out[f.name] = np.full(n, value, dtype=object)
            elif f.name in _STRINGS:
                out[f.name] = _as_object_array(value)
            else:
                out[f.name] = value
        return {name: out[name] for name in SCORE_FIELDS}


def _as_object_array(values: StrColumn) -> np.ndarray:
    if hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):
        return np.asarray(values.to_numpy(zero_copy_only=False), dtype=object)
    arr = np.empty(len(values), dtype=object)
    arr[:] = list(values)
    return arr
