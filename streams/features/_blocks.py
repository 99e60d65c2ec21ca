"""Feature steps: the names of the columns each one writes, and writing them into ``x``.

Every step writes its own block of the batch's float32 matrix ``x`` (columns ``col0`` onwards),
with NumPy whole-column operations or a kernel; nothing here loops over events in Python.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import kernels
from kernels import KernelTarget, WindowLayout
from streams.features._table_ops import as_text, column, float_values
from streams.features.errors import FeatureInputError
from streams.features.spec import (
    HashedStep,
    NumericStep,
    OneHotStep,
    TimeStep,
    TokensStep,
    WindowStep,
)
from streams.features.state import WindowState

__all__ = ["FeatureStep", "block_names", "check_block", "window_layout", "write_block"]

FeatureStep = TimeStep | OneHotStep | HashedStep | TokensStep | NumericStep | WindowStep
OTHER = "<other>"
MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000
EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday; Monday = 0


def duration_label(seconds: float) -> str:
    """Short label of a duration: 3600 -> '1h', 604800 -> '7d', 90 -> '90s'."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and float(seconds) % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def window_layout(step: WindowStep) -> WindowLayout:
    """The kernel layout of a windows step (its types plus ``<other>``), times in ms."""
    return WindowLayout(
        n_types=len(step.types) + 1,
        horizons_ms=tuple(h * 1000.0 for h in step.horizons_s),
        halflives_ms=tuple(h * 1000.0 for h in step.halflives_s),
        session_gap_ms=step.session_gap_s * 1000.0,
        recency_cap_ms=step.recency_cap_s * 1000.0,
    )


def block_names(step: FeatureStep) -> tuple[str, ...]:
    """Names of the feature columns a step writes, in order."""
    if isinstance(step, TimeStep):
        return tuple(f"{step.column}.{f}" for f in step.features)
    if isinstance(step, OneHotStep):
        return tuple(f"{step.column}={c}" for c in (*step.categories, OTHER))
    if isinstance(step, HashedStep):
        return tuple(f"{step.column}#{b}" for b in range(1 << step.bits))
    if isinstance(step, TokensStep):
        return tuple(f"{step.column}~{b}" for b in range(1 << step.bits))
    if isinstance(step, NumericStep):
        return (f"{step.column}.log1p" if step.log1p else step.column,)
    return window_layout(step).feature_names(
        (*step.types, OTHER),
        tuple(duration_label(h) for h in step.horizons_s),
        tuple(duration_label(h) for h in step.halflives_s),
    )


def _category_ids(arr: pa.Array, categories: tuple[str, ...]) -> np.ndarray:
    """Index of each value in ``categories``; unknown values and nulls get len(categories)."""
    ids = pc.index_in(as_text(arr), value_set=pa.array(categories, pa.string()))
    return ids.fill_null(len(categories)).to_numpy(zero_copy_only=False).astype(np.int64)


def _epoch_ms(table: pa.Table, name: str, where: str) -> np.ndarray:
    arr = column(table, name, where)
    if arr.null_count:
        raise FeatureInputError(
            f"feature step {where}: expected epoch ms in every row of {name!r}, "
            f"found {arr.null_count} null(s)"
        )
    return pc.cast(arr, pa.int64()).to_numpy(zero_copy_only=False)


def _time_columns(ts: np.ndarray, features: tuple[str, ...]) -> list[np.ndarray]:
    days = np.floor_divide(ts, MS_PER_DAY)
    day_frac = (ts - days * MS_PER_DAY) / MS_PER_DAY  # fraction of the UTC day, [0, 1)
    dow = (days + EPOCH_WEEKDAY) % 7
    week_angle = 2 * math.pi * (dow + day_frac) / 7
    day_angle = 2 * math.pi * day_frac
    made = {
        "hour": lambda: np.floor_divide(ts, MS_PER_HOUR) % 24,
        "dow": lambda: dow,
        "hour_sin": lambda: np.sin(day_angle),
        "hour_cos": lambda: np.cos(day_angle),
        "dow_sin": lambda: np.sin(week_angle),
        "dow_cos": lambda: np.cos(week_angle),
    }
    return [made[f]() for f in features]


def check_block(step: FeatureStep, table: pa.Table, where: str) -> None:
    """Raise what :func:`write_block` raises for missing or null inputs, without computing
    the block (fitting skips the blocks no normaliser reads)."""
    if isinstance(step, TimeStep):
        _epoch_ms(table, step.column, where)
    elif isinstance(step, WindowStep):
        _epoch_ms(table, "ts_ms", where)
        for name in (step.entity_column, step.type_column, step.value_column):
            if name is not None:
                column(table, name, where)
    else:
        column(table, step.column, where)


def write_block(
    step: FeatureStep,
    table: pa.Table,
    x: np.ndarray,
    col0: int,
    state: WindowState | None,
    target: KernelTarget,
    where: str,
) -> None:
    """Write the step's columns of ``x`` (``col0`` onwards) for every row of ``table``."""
    if isinstance(step, TimeStep):
        ts = _epoch_ms(table, step.column, where)
        for k, values in enumerate(_time_columns(ts, step.features)):
            x[:, col0 + k] = values
    elif isinstance(step, OneHotStep):
        ids = _category_ids(column(table, step.column, where), step.categories)
        kernels.one_hot(ids, len(step.categories) + 1, x, col0, target=target)
    elif isinstance(step, HashedStep):
        text = as_text(column(table, step.column, where))
        ids = kernels.hash_strings(text, step.bits, step.seed, target=target)
        kernels.one_hot(ids, 1 << step.bits, x, col0, target=target)
    elif isinstance(step, TokensStep):
        text = as_text(column(table, step.column, where))
        kernels.hash_token_counts(
            text,
            step.bits,
            step.seed,
            skip_numeric=step.skip_numeric,
            out=x,
            col0=col0,
            target=target,
        )
        if step.log1p:
            block = x[:, col0 : col0 + (1 << step.bits)]
            np.log1p(block, out=block)
    elif isinstance(step, NumericStep):
        values = float_values(column(table, step.column, where), step.fill)
        if step.log1p:  # sign-preserving, so refunds (negative amounts) stay negative
            values = np.sign(values) * np.log1p(np.abs(values))
        x[:, col0] = values
    else:
        _write_windows(step, table, x, col0, state, target, where)


def _write_windows(
    step: WindowStep,
    table: pa.Table,
    x: np.ndarray,
    col0: int,
    state: WindowState | None,
    target: KernelTarget,
    where: str,
) -> None:
    if state is None:
        raise ValueError("a windows step needs a WindowState")  # a bug of the caller
    ts = _epoch_ms(table, "ts_ms", where)
    slots = state.slots_for(column(table, step.entity_column, where))
    type_ids = _category_ids(column(table, step.type_column, where), step.types)
    if step.value_column is None:
        values = np.zeros(len(table), dtype=np.float64)
    else:
        values = float_values(column(table, step.value_column, where), math.nan)
    kernels.window_update(
        ts, slots, type_ids, values, state.layout, state.full_array, x, col0, target=target
    )
