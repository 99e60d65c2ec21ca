"""Encode and decode scores as FlatBuffers (``schemas/scores.fbs``, ``schemas/score_batch.fbs``).

Per-event messages (``ScoreResult``) are laid out for a whole batch at once with NumPy: every
message has the same fixed 80-byte head (root offset, identifier, vtable, table) followed by its
strings, so a batch costs a few array operations plus one slice per message. The layout is a
valid FlatBuffer read by the generated code and by the stock ``flatc``; the tests check both
(and the C++ verifier). Columnar messages (``ScoreBatch``) are laid out with NumPy the same
way: a fixed head, then each vector written as one block.

Decoders read any valid buffer (not only ours: absent fields get schema defaults, absent
strings ``None``) with vectorised, bounds-checked reads.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas import _wire
from schemas.columns import SCORE_FIELDS, ScoreColumns
from schemas.errors import CodecError

__all__ = [
    "SCORE_BATCH_IDENTIFIER",
    "SCORE_RESULT_IDENTIFIER",
    "decode_score_batch",
    "decode_score_result",
    "decode_score_results",
    "encode_score_batch",
    "encode_score_results",
]

SCORE_RESULT_IDENTIFIER = b"SSR1"
"""file_identifier of scores.fbs: bytes 4..8 of every ScoreResult message."""
SCORE_BATCH_IDENTIFIER = b"SSB1"
"""file_identifier of score_batch.fbs."""

_SLOT = {name: i for i, name in enumerate(SCORE_FIELDS)}
_STRING_FIELDS = ("event_id", "entity", "model_name", "model_version", "served_by")
_CHUNK = 4096  # messages per vectorised decoding pass: bounds its index arrays in memory
# Both built from buffers: pyarrow converts a Python list or bytes by way of a pandas check,
# which imports pandas (0.4-0.7 s) in every process that imports this module.
_PADS = pa.LargeBinaryArray.from_buffers(
    pa.large_binary(),
    4,
    [None, pa.py_buffer(np.array([0, 4, 7, 9, 10], np.int64)), pa.py_buffer(b"\0" * 10)],
)
"""NUL and padding after a string, by its length mod 4 (strings end 4-aligned)."""
_NOTHING = pa.LargeBinaryArray.from_buffers(
    pa.large_binary(), 1, [None, pa.py_buffer(np.zeros(2, np.int64)), pa.py_buffer(b"")]
)[0]
_FEW = 48  # below this many events a plain loop beats the NumPy passes' fixed cost (~90 us)
_CONSTANT_FIELDS = ("model_name", "model_version")  # one value per batch
_VARYING_FIELDS = ("event_id", "entity", "served_by")
_SCALARS = {
    "score": np.dtype("<f4"),
    "decision": np.dtype("?"),
    "fallback": np.dtype("?"),
    "event_time_ms": np.dtype("<i8"),
    "scored_time_ms": np.dtype("<i8"),
}

# The fixed head of every ScoreResult we write: root offset, identifier, vtable at byte 8, table
# at byte 32 (8-aligned for the longs; soffset +24 back to the vtable) holding the scalars and
# the five string offsets in _STRING_FIELDS order. Strings follow from byte 80. The C++ verifier
# test (tests/unit/schemas/test_cpp_verifier.py) checks this layout.
_TABLE_AT = 32
_HEAD = np.dtype(
    [
        ("root", "<u4"),
        ("ident", "S4"),
        ("vtable", "<u2", (12,)),
        ("soffset", "<i4"),
        ("score", "<f4"),
        ("event_time_ms", "<i8"),
        ("scored_time_ms", "<i8"),
        ("strings", "<u4", (5,)),
        ("decision", "u1"),
        ("fallback", "u1"),
        ("pad", "<u2"),
    ]
)
_HEAD_SIZE = _HEAD.itemsize  # 80
_HEAD_STRUCT = struct.Struct("<I4s12HifqqIIIIIBBH")  # _HEAD as a struct, for _encode_few
_U32, _I32, _U16 = struct.Struct("<I"), struct.Struct("<i"), struct.Struct("<H")
_SCALAR_STRUCTS = {
    name: struct.Struct(form)
    for name, form in zip(_SCALARS, ("<f", "<?", "<?", "<q", "<q"), strict=True)
}
_IN_TABLE = {name: _HEAD.fields[name][1] - _TABLE_AT for name in _SCALARS}
_IN_TABLE.update({name: 24 + 4 * i for i, name in enumerate(_STRING_FIELDS)})
# ScoreBatch: root offset, identifier, vtable at byte 8, table at byte 32 (soffset, then one
# uoffset per slot in slot order).
_BATCH_TABLE_AT = 32
_BATCH_HEAD = (
    _BATCH_TABLE_AT.to_bytes(4, "little")
    + SCORE_BATCH_IDENTIFIER
    + np.array(
        [4 + 2 * len(SCORE_FIELDS), 4 + 4 * len(SCORE_FIELDS)]
        + [4 + 4 * slot for slot in range(len(SCORE_FIELDS))],
        dtype="<u2",
    ).tobytes()
)
assert len(_BATCH_HEAD) == _BATCH_TABLE_AT
_VTABLE = [4 + 2 * len(SCORE_FIELDS), _HEAD_SIZE - _TABLE_AT] + [
    _IN_TABLE[name] for name in SCORE_FIELDS
]


def encode_score_results(columns: ScoreColumns) -> list[bytes]:
    """One ``ScoreResult`` FlatBuffer (identifier ``SSR1``) per event, in column order.

    Cost is a few NumPy and Arrow passes over the batch (no Python per event). Raises
    :class:`CodecError` when a string column holds a non-string or ``None``.

    Layout of every message: the fixed 80-byte head, then the batch-constant model name and
    version (identical bytes in every message, so they are part of a per-batch template), then
    this event's ``event_id``, ``entity`` and ``served_by`` strings.
    """
    n = len(columns)
    if n < _FEW:
        try:
            return _encode_few(columns)
        except (AttributeError, TypeError, UnicodeError):
            pass  # a bad string: the vectorised path below raises the explanatory CodecError
    if n == 0:
        return []
    consts = b"".join(_wire_string(getattr(columns, name)) for name in _CONSTANT_FIELDS)
    head_size = _HEAD_SIZE + len(consts)
    texts = [_wire.utf8_column(getattr(columns, name), n, name) for name in _VARYING_FIELDS]
    lengths = np.concatenate([np.diff(offsets) for offsets, _ in texts])  # field-major, 3n
    seg = _wire.string_segments(lengths).reshape(len(texts), n)
    at = np.empty_like(seg)  # where each string starts inside its message
    at[0] = head_size
    np.cumsum(seg[:-1], axis=0, out=at[1:])
    at[1:] += head_size
    head = np.zeros(n, dtype=_head_dtype(head_size))
    template = head.view(_wire.U8).reshape(n, head_size)
    template[:, _HEAD_SIZE:] = np.frombuffer(consts, dtype=_wire.U8)
    head["root"] = _TABLE_AT
    head["ident"] = SCORE_RESULT_IDENTIFIER
    head["vtable"] = _VTABLE
    head["soffset"] = _TABLE_AT - 8
    for name in _SCALARS:
        head[name] = getattr(columns, name)
    const_at = _HEAD_SIZE
    for name in _CONSTANT_FIELDS:
        head["strings"][:, _STRING_FIELDS.index(name)] = const_at - (_TABLE_AT + _IN_TABLE[name])
        const_at += len(_wire_string(getattr(columns, name)))
    for k, name in enumerate(_VARYING_FIELDS):
        head["strings"][:, _STRING_FIELDS.index(name)] = at[k] - (_TABLE_AT + _IN_TABLE[name])

    # Every message is its head and its three wire strings (length word, UTF-8, NUL, padding),
    # joined element-wise by Arrow in C++: no per-byte index arrays, one bytes object each.
    parts = [
        pa.FixedSizeBinaryArray.from_buffers(pa.binary(head_size), n, [None, pa.py_buffer(head)])
    ]
    for offsets, data in texts:
        size = np.diff(offsets).astype(np.uint32)
        parts.append(
            pa.FixedSizeBinaryArray.from_buffers(pa.binary(4), n, [None, pa.py_buffer(size)])
        )
        parts.append(
            pa.Array.from_buffers(
                pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
            )
        )
        parts.append(_PADS.take(pa.array(size & 3)))
    joined = pc.binary_join_element_wise(*(p.cast(pa.large_binary()) for p in parts), _NOTHING)
    return joined.to_pylist()


def _encode_few(columns: ScoreColumns) -> list[bytes]:
    """:func:`encode_score_results` for a handful of events: the same bytes, built per event.

    Raises AttributeError/TypeError/UnicodeError on a bad string (the caller reports it).
    """
    model_name = _wire_string(columns.model_name)
    consts = model_name + _wire_string(columns.model_version)
    text_at = _HEAD_SIZE + len(consts)
    name_ref = _HEAD_SIZE - (_TABLE_AT + _IN_TABLE["model_name"])
    version_ref = _HEAD_SIZE + len(model_name) - (_TABLE_AT + _IN_TABLE["model_version"])
    refs = [_TABLE_AT + _IN_TABLE[name] for name in _VARYING_FIELDS]
    texts = [_as_str_list(getattr(columns, name)) for name in _VARYING_FIELDS]
    rows = zip(
        *texts,
        columns.score.tolist(),
        columns.event_time_ms.tolist(),
        columns.scored_time_ms.tolist(),
        columns.decision.tolist(),
        columns.fallback.tolist(),
        strict=True,
    )
    pack, vtable = _HEAD_STRUCT.pack, _VTABLE
    out = []
    for event_id, entity, served_by, score, event_time, scored_time, decision, fallback in rows:
        parts = [b"", consts]
        at, where = text_at, []
        for text in (event_id, entity, served_by):
            wire = _wire_string_bytes(text.encode("utf-8"))
            where.append(at)
            parts.append(wire)
            at += len(wire)
        parts[0] = pack(
            _TABLE_AT, SCORE_RESULT_IDENTIFIER, *vtable, _TABLE_AT - 8, score, event_time,
            scored_time, where[0] - refs[0], where[1] - refs[1], name_ref, version_ref,
            where[2] - refs[2], decision, fallback, 0,
        )  # fmt: skip
        out.append(b"".join(parts))
    return out


def _as_str_list(values: _wire.StrColumn) -> list:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values.to_pylist()
    return list(values)


def encode_score_batch(columns: ScoreColumns) -> bytes:
    """One ``ScoreBatch`` FlatBuffer (identifier ``SSB1``) holding every event as columns.

    Laid out front to back with NumPy (every uoffset points forward, as FlatBuffers requires):
    root offset and identifier, the vtable, the table of ten uoffsets in slot order, the model
    name and version, the scalar vectors (8-byte aligned longs first), the three string
    vectors, then their strings. A ``served_by`` column with one value throughout (one model
    served the batch: the usual case) is stored once, every element pointing to it, as the
    builder's ``CreateSharedString`` does.
    """
    n = len(columns)
    text = {name: _wire.utf8_column(getattr(columns, name), n, name) for name in _VARYING_FIELDS}
    shared = _one_value(*text["served_by"])
    head = {name: _wire_string(getattr(columns, name)) for name in _CONSTANT_FIELDS}
    at: dict[str, int] = {}  # where each field's string or vector (its length word) starts
    pos = _BATCH_TABLE_AT + 4 + 4 * len(SCORE_FIELDS)
    for name in _CONSTANT_FIELDS:
        at[name] = pos
        pos += len(head[name])
    for name in ("event_time_ms", "scored_time_ms", "score", "decision", "fallback"):
        size = _SCALARS[name].itemsize
        pos += (4 - pos) % 8 if size == 8 else 0  # the first element 8-aligned
        at[name] = pos
        pos += 4 + size * n
        pos += -pos % 4
    for name in _VARYING_FIELDS:
        at[name] = pos
        pos += 4 + 4 * n
    strings_at = pos  # every string of the three vectors, field after field
    offsets, data, first = [], [], {}
    for name in _VARYING_FIELDS:
        off, raw = text[name]
        if name == "served_by" and shared:
            off, raw = off[:2], raw[: int(off[1])]
        first[name] = sum(len(o) - 1 for o in offsets)
        offsets.append(off)
        data.append(raw)
    lengths = np.concatenate([np.diff(o) for o in offsets])
    seg = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(_wire.string_segments(lengths), out=seg[1:])
    out = np.zeros(strings_at + int(seg[-1]), dtype=_wire.U8)
    words = out.view(_wire.U32)
    out[:_BATCH_TABLE_AT] = np.frombuffer(_BATCH_HEAD, dtype=_wire.U8)
    table = _BATCH_TABLE_AT
    words[table // 4] = table - 8  # soffset to the vtable at byte 8
    for slot, name in enumerate(SCORE_FIELDS):
        field = table + 4 + 4 * slot
        words[field // 4] = at[name] - field
    for name in _CONSTANT_FIELDS:
        out[at[name] : at[name] + len(head[name])] = np.frombuffer(head[name], dtype=_wire.U8)
    for name in ("event_time_ms", "scored_time_ms", "score", "decision", "fallback"):
        words[at[name] // 4] = n
        values = np.ascontiguousarray(getattr(columns, name)).view(_wire.U8)
        out[at[name] + 4 : at[name] + 4 + len(values)] = values
    string_pos = strings_at + seg[:-1]
    words[string_pos // 4] = lengths
    _wire.scatter_segments(out, string_pos + 4, np.r_[0, np.cumsum(lengths)], np.concatenate(data))
    for name in _VARYING_FIELDS:
        elements = at[name] + 4 + 4 * np.arange(n, dtype=np.int64)
        count = 1 if name == "served_by" and shared else n
        targets = string_pos[first[name] : first[name] + count]
        words[at[name] // 4] = n
        words[elements // 4] = targets - elements
    return out.tobytes()


def _one_value(offsets: np.ndarray, data: np.ndarray) -> bool:
    """Whether a string column of at least one row holds the same string in every row."""
    n = len(offsets) - 1
    if n < 1:
        return False
    width = int(offsets[1])
    if len(data) != width * n:
        return False
    if (np.diff(offsets) != width).any():
        return False
    return bool((data.reshape(n, width) == data[:width]).all()) if width else True


def decode_score_results(buffers: Sequence[bytes]) -> dict[str, np.ndarray]:
    """Decode many ``ScoreResult`` messages into per-event columns keyed by schema field name.

    Strings come back as NumPy object arrays (``None`` where a producer left one out), numbers
    in the :class:`ScoreColumns` dtypes. Messages may come from different models. Raises
    :class:`CodecError` for a message without the ``SSR1`` identifier or with offsets outside it.
    """
    n = len(buffers)
    if n < _FEW:
        return _decode_few(buffers)
    if n > _CHUNK:
        parts = [decode_score_results(buffers[i : i + _CHUNK]) for i in range(0, n, _CHUNK)]
        return {name: np.concatenate([p[name] for p in parts]) for name in SCORE_FIELDS}
    lengths = np.fromiter((len(b) for b in buffers), dtype=np.int64, count=n)
    lo = np.zeros(n, dtype=np.int64)
    np.cumsum(lengths[:-1], out=lo[1:])
    hi = lo + lengths
    reader = _wire.Reader(b"".join(buffers), lo, hi, "ScoreResult")
    _check_identifiers(reader, SCORE_RESULT_IDENTIFIER)
    tables = reader.follow(lo)
    return _read_table_columns(reader, tables)


def _decode_few(buffers: Sequence[bytes]) -> dict[str, np.ndarray]:
    """:func:`decode_score_results` for a handful of messages: same result, read per message."""
    rows = [_decode_one(buffer, i, len(buffers)) for i, buffer in enumerate(buffers)]
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(SCORE_FIELDS)
    out = {}
    for name, values in zip(SCORE_FIELDS, columns, strict=True):
        if name in _SCALARS:
            out[name] = np.array(values, dtype=_SCALARS[name])
        else:
            out[name] = np.empty(len(values), dtype=object)
            out[name][:] = values
    return out


def _decode_one(buffer: bytes, index: int, count: int) -> list:
    size = len(buffer)

    def read(form: struct.Struct, pos: int) -> Any:
        if pos < 0 or pos + form.size > size:
            raise CodecError(
                f"decoding ScoreResult: expected {form.size} bytes inside the buffer's {size} "
                f"bytes, found an offset pointing to byte {pos} (corrupt buffer?)"
            )
        return form.unpack_from(buffer, pos)[0]

    if bytes(buffer[4:8]) != SCORE_RESULT_IDENTIFIER:
        raise CodecError(
            f"decoding ScoreResult: expected file identifier {SCORE_RESULT_IDENTIFIER!r} at bytes "
            f"4..8, found {bytes(buffer[4:8])!r} in message {index} of {count}"
        )
    table = read(_U32, 0)
    vtable = table - read(_I32, table)
    vtable_size = read(_U16, vtable)
    row = []
    for slot, name in enumerate(SCORE_FIELDS):
        at = 4 + 2 * slot
        where = read(_U16, vtable + at) if at < vtable_size else 0
        if name in _SCALARS:
            row.append(read(_SCALAR_STRUCTS[name], table + where) if where else 0)
        elif not where:
            row.append(None)
        else:
            start = table + where + read(_U32, table + where)
            length = read(_U32, start)
            if start + 4 + length > size:
                raise CodecError(
                    f"decoding ScoreResult: a string of {length} bytes runs past the end of its "
                    "buffer (corrupt or truncated buffer?)"
                )
            try:
                row.append(bytes(buffer[start + 4 : start + 4 + length]).decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise CodecError(
                    f"decoding ScoreResult: expected UTF-8 strings, found {exc}"
                ) from exc
    return row


def decode_score_result(buffer: bytes) -> dict[str, Any]:
    """Decode one ``ScoreResult`` message into a dict of plain Python values."""
    columns = decode_score_results([buffer])
    return {
        name: column[0].item() if isinstance(column[0], np.generic) else column[0]
        for name, column in columns.items()
    }


def decode_score_batch(buffer: bytes) -> ScoreColumns:
    """Decode one ``ScoreBatch`` message. Raises :class:`CodecError` when it is not one, or when
    its vectors have different lengths."""
    size = len(buffer)
    reader = _wire.Reader(buffer, np.zeros(1, np.int64), np.full(1, size, np.int64), "ScoreBatch")
    _check_identifiers(reader, SCORE_BATCH_IDENTIFIER)
    table = reader.follow(np.zeros(1, np.int64))
    where = reader.slots(table, len(SCORE_FIELDS))[0]
    values: dict[str, Any] = {}
    string_at: dict[str, np.ndarray] = {}  # uoffset positions of every string, per field
    for name in SCORE_FIELDS:
        field = table + where[_SLOT[name]]
        if not where[_SLOT[name]]:
            string_at[name] = np.empty(0, dtype=np.int64)
        elif name in _CONSTANT_FIELDS:
            string_at[name] = field
        elif name in _SCALARS:
            start, count = reader.vector(field)
            dt = _SCALARS[name]
            if int(start[0] + count[0] * dt.itemsize) > size:
                raise CodecError(
                    f"decoding ScoreBatch: vector {name!r} of {int(count[0])} values runs past "
                    f"the end of the {size}-byte buffer (corrupt or truncated buffer?)"
                )
            values[name] = np.frombuffer(
                buffer, dtype=dt, count=int(count[0]), offset=int(start[0])
            ).copy()
        else:
            start, count = reader.vector(field)
            string_at[name] = start[0] + 4 * np.arange(count[0], dtype=np.int64)
    for name, text in _split_strings(reader, string_at).items():
        if name in _CONSTANT_FIELDS:
            values[name] = text[0] if len(text) else ""
        else:
            values[name] = text
    for name in _SCALARS:
        values.setdefault(name, np.empty(0, dtype=_SCALARS[name]))
    lengths = {name: len(values[name]) for name in SCORE_FIELDS if name not in _CONSTANT_FIELDS}
    if len(set(lengths.values())) > 1:
        raise CodecError(f"decoding ScoreBatch: expected equal vector lengths, found {lengths}")
    return ScoreColumns(**values)


def _split_strings(
    reader: _wire.Reader,
    string_at: dict[str, np.ndarray],
    rows: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Decode the strings of several fields in one pass (one Arrow array), then split them."""
    positions = np.concatenate(list(string_at.values()))
    if rows is None:
        all_rows = np.zeros(len(positions), dtype=np.int64)
    else:
        all_rows = np.concatenate([rows[name] for name in string_at])
    text = reader.strings(positions, all_rows)
    out, at = {}, 0
    for name, pos in string_at.items():
        out[name] = text[at : at + len(pos)]
        at += len(pos)
    return out


def _wire_string(value: str) -> bytes:
    """``value`` as a FlatBuffers string: length word, UTF-8, NUL, zero padding to 4."""
    return _wire_string_bytes(value.encode("utf-8"))


def _wire_string_bytes(raw: bytes) -> bytes:
    return len(raw).to_bytes(4, "little") + raw + b"\0" * (4 - (len(raw) & 3))


@functools.lru_cache(maxsize=64)
def _head_dtype(size: int) -> np.dtype:
    """:data:`_HEAD` widened to ``size`` bytes (room for the batch-constant strings)."""
    names = list(_HEAD.names)
    return np.dtype(
        {
            "names": names,
            "formats": [_HEAD.fields[name][0] for name in names],
            "offsets": [_HEAD.fields[name][1] for name in names],
            "itemsize": size,
        }
    )


def _check_identifiers(reader: _wire.Reader, identifier: bytes) -> None:
    found = reader.gather(reader.lo + 4, "S4")
    bad = found != identifier
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CodecError(
            f"decoding {reader.what}: expected file identifier {identifier!r} at bytes 4..8, "
            f"found {found[i]!r} in message {i} of {len(found)}"
        )


def _read_table_columns(reader: _wire.Reader, tables: np.ndarray) -> dict[str, np.ndarray]:
    n = len(tables)
    where = reader.slots(tables, len(SCORE_FIELDS))
    out: dict[str, np.ndarray] = {}
    string_at: dict[str, np.ndarray] = {}
    string_rows: dict[str, np.ndarray] = {}
    for name in SCORE_FIELDS:
        field = where[:, _SLOT[name]]
        present = np.flatnonzero(field)
        if name in _SCALARS:
            column = np.zeros(n, dtype=_SCALARS[name])  # schema defaults are all zero
            column[present] = reader.gather(
                tables[present] + field[present], _SCALARS[name], present
            )
            out[name] = column
        else:
            string_at[name] = tables[present] + field[present]
            string_rows[name] = present
    for name, text in _split_strings(reader, string_at, string_rows).items():
        column = np.full(n, None, dtype=object)
        column[string_rows[name]] = text
        out[name] = column
    return {name: out[name] for name in SCORE_FIELDS}
