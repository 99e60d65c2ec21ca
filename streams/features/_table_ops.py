"""Table steps (filter, cast, property) and column readers, all vectorised with pyarrow."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kernels import JsonKind, KernelTarget, json_field_text
from streams.features.errors import FeatureInputError
from streams.features.spec import CastStep, FilterStep, PropertyStep

__all__ = ["apply_table_step", "column", "as_float", "as_text"]

# The text Arrow's cast to float64 parses: decimal numbers ("1.", ".5", "+2e3") and
# nan/inf/infinity in any case. Rows not matching become null before the cast.
_NUMBER_ONLY = r"^[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|(?i:nan|inf|infinity))$"


def column(table: pa.Table, name: str, step: str) -> pa.Array:
    """Column ``name`` as one contiguous array; raises :class:`FeatureInputError` if missing."""
    if name not in table.column_names:
        raise FeatureInputError(
            f"feature step {step}: expected column {name!r} in the events, found "
            f"{table.column_names}"
        )
    chunks = table.column(name)
    return chunks.chunk(0) if chunks.num_chunks == 1 else chunks.combine_chunks()


def as_text(arr: pa.Array) -> pa.Array:
    """Any column as strings (numbers written in decimal), nulls kept."""
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        return arr
    return pc.cast(arr, pa.string())


def as_float(arr: pa.Array) -> pa.Array:
    """Any column as float64; text that is not a number becomes null.

    Tries the plain cast first (every row numeric: the usual case, and no regex to compile
    per batch); only a batch with a bad row pays for masking it.
    """
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        try:
            return pc.cast(arr, pa.float64())
        except pa.ArrowInvalid:
            ok = pc.match_substring_regex(arr, _NUMBER_ONLY)
            arr = pc.if_else(ok, arr, pa.scalar(None, arr.type))
    try:
        return pc.cast(arr, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise FeatureInputError(
            f"reading a number column: expected numbers or numeric text, got {arr.type}"
        ) from exc


def float_values(arr: pa.Array, fill: float) -> np.ndarray:
    """float64 NumPy values of a column; null, NaN and +-inf become ``fill``.

    Infinities are dropped too: one ``1e999`` amount would otherwise stay in a window sum
    for good.
    """
    values = as_float(arr).fill_null(fill).to_numpy(zero_copy_only=False).astype(np.float64)
    values[~np.isfinite(values)] = fill
    return values


def apply_table_step(
    table: pa.Table,
    step: FilterStep | CastStep | PropertyStep,
    where: str,
    target: KernelTarget = "cpu",
) -> pa.Table:
    """The table after one table step (``where`` names the step in error messages)."""
    if isinstance(step, FilterStep):
        values = as_text(column(table, step.column, where))
        chosen = step.keep if step.keep is not None else step.drop
        hit = pc.is_in(values, value_set=pa.array(chosen, pa.string()))
        mask = hit if step.keep is not None else pc.invert(hit)
        if pc.all(mask).as_py() is not False:  # all kept (or empty): skip copying columns
            return table
        return table.filter(mask)
    if isinstance(step, CastStep):
        arr = column(table, step.column, where)
        if step.to == "string":
            out = as_text(arr)
        elif step.to == "float64":
            out = as_float(arr)
        else:
            out = pc.cast(pc.floor(as_float(arr)), pa.int64(), safe=False)
        return _set(table, step.column, out)
    source = as_text(column(table, step.source, where))
    if step.to == "string":
        return _set(table, step.name, json_field_text(source, step.key, target=target))
    found = json_field_text(source, step.key, (JsonKind.STRING, JsonKind.NUMBER), target=target)
    return _set(table, step.name, as_float(found))  # "12" and 12 both read; "x" gives null


def _set(table: pa.Table, name: str, arr: pa.Array) -> pa.Table:
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, arr)
    return table.append_column(name, arr)
