"""Checked wrapper of the JSON field kernel: pull one top-level key out of JSON object strings.

Activity events carry optional properties as a JSON object string (``{"plan":"pro",
"amount":9.99}``); the feature pipeline needs a few of them as columns. Parsing every row with
``json.loads`` is a per-event Python loop and a regular expression cannot tell a top-level key
from a nested one; this kernel scans the UTF-8 bytes once per row (see
:func:`kernels._bodies.json_field_body`) and the values are gathered with NumPy.
"""

from __future__ import annotations

import re
from enum import IntEnum
from typing import Any

import numpy as np
import pyarrow as pa

from kernels import _cpu
from kernels._target import KernelTarget, resolve_target, run_cuda
from kernels.errors import KernelInputError
from kernels.hashing import string_buffers

__all__ = ["JsonKind", "json_field_spans", "json_field_text"]

_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class JsonKind(IntEnum):
    """What :func:`json_field_spans` found for a row."""

    ABSENT = 0
    STRING = 1
    NUMBER = 2  # a bare literal starting like a number; not yet checked to be one
    BOOL = 3
    NULL = 4
    NESTED = 5


def json_field_spans(
    values: Any, key: str, *, target: KernelTarget = "cpu"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(data, starts, ends, kinds)``: row i's value is ``data[starts[i]:ends[i]]``.

    ``data`` is the column's UTF-8 byte buffer; ``kinds`` (int8) holds :class:`JsonKind`.
    Raises :class:`KernelInputError` for a non-string column or a key outside
    ``[A-Za-z0-9_.-]{1,64}``.
    """
    if not isinstance(key, str) or not _KEY.match(key):
        raise KernelInputError(
            f"JSON field key: expected 1-64 characters of [A-Za-z0-9_.-], got {key!r}"
        )
    data, offsets, valid = string_buffers(values)
    n = valid.shape[0]
    key_bytes = np.frombuffer(key.encode(), dtype=np.uint8).copy()
    starts = np.zeros(n, dtype=np.int64)
    ends = np.zeros(n, dtype=np.int64)
    kinds = np.zeros(n, dtype=np.int8)
    args = [data, offsets, valid, key_bytes, starts, ends, kinds]
    if resolve_target(target) == "cuda":
        from kernels import _cuda

        run_cuda(_cuda.json_field, n, args, [4, 5, 6])
    else:
        _cpu.json_field(*args)
    return data, starts, ends, kinds


def json_field_text(
    values: Any,
    key: str,
    kinds: tuple[JsonKind, ...] = (JsonKind.STRING, JsonKind.NUMBER, JsonKind.BOOL),
    *,
    target: KernelTarget = "cpu",
) -> pa.Array:
    """Top-level ``key`` of each JSON object string as text (a pyarrow string array; a
    large_string one past 2 GiB of text).

    Rows whose value is of a kind not in ``kinds`` (absent, null, nested...) are null.
    Strings keep their JSON escapes (``"a\\"b"`` gives ``a\\"b``); numbers and booleans give
    their literal text (``9.99``, ``true``).
    """
    data, starts, ends, found = json_field_spans(values, key, target=target)
    wanted = np.zeros(len(JsonKind), dtype=bool)
    wanted[[int(k) for k in kinds]] = True
    keep = wanted[found]
    lengths = np.where(keep, ends - starts, 0)
    offsets = np.zeros(lengths.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    # Byte k of the output comes from data[starts[row] + (k - offsets[row])].
    index = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1], dtype=np.int64)
    text = data[index]
    n = lengths.shape[0]
    nulls = n - int(np.count_nonzero(keep))
    validity = pa.py_buffer(np.packbits(keep, bitorder="little")) if nulls else None
    if offsets[-1] < 2**31:  # the usual case: plain string, int32 offsets
        return pa.StringArray.from_buffers(
            n, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(text), validity, nulls
        )
    return pa.LargeStringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(text), validity, nulls
    )
