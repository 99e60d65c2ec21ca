"""JSON field kernel against json.loads on random documents, plus edge and bad input."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from kernels import JsonKind, KernelInputError, json_field_spans, json_field_text

TRICKY_TEXT = ["pro", 'a"b', "x\\y", "{plan}", "plan", ", :", "é日本", "", "\u2028"]


def random_value(rng: np.random.Generator, depth: int = 0):
    pick = rng.integers(0, 8 if depth < 2 else 5)
    if pick == 0:
        return str(rng.choice(TRICKY_TEXT))
    if pick == 1:
        return int(rng.integers(-(10**12), 10**12))
    if pick == 2:
        return float(rng.normal() * 10.0 ** rng.integers(-5, 15))
    if pick == 3:
        return bool(rng.integers(0, 2))
    if pick == 4:
        return None
    if pick in (5, 6):
        return {str(rng.choice(["plan", "amount", "k"])): random_value(rng, depth + 1)}
    return [random_value(rng, depth + 1) for _ in range(rng.integers(0, 3))]


def random_documents(rng: np.random.Generator, n: int) -> list[str]:
    docs = []
    for _ in range(n):
        keys = rng.permutation(["plan", "amount", "other", "note"])[: rng.integers(0, 5)]
        doc = {str(k): random_value(rng) for k in keys}
        indent = None if rng.random() < 0.7 else int(rng.integers(0, 3))
        docs.append(json.dumps(doc, ensure_ascii=bool(rng.integers(0, 2)), indent=indent))
    return docs


def expected_text(doc: str | None, key: str) -> str | None:
    """What json_field_text promises, derived from json.loads."""
    if doc is None:
        return None
    try:
        obj = json.loads(doc)
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or key not in obj:
        return None
    value = obj[key]
    if value is None or isinstance(value, dict | list):
        return None
    raw = _raw_after_key(doc, key)
    return raw[1:-1] if isinstance(value, str) else raw  # strings: the text between the quotes


def _raw_after_key(doc: str, key: str) -> str:
    decoder = json.JSONDecoder()
    obj_start = doc.index("{") + 1
    pos = obj_start
    while True:  # walk top-level pairs with the stdlib decoder to find the raw value text
        pos = _skip_ws(doc, pos)
        name, pos = decoder.raw_decode(doc, pos)
        pos = _skip_ws(doc, pos) + 1  # the colon
        pos = _skip_ws(doc, pos)
        _, end = decoder.raw_decode(doc, pos)
        if name == key:
            return doc[pos:end]
        pos = _skip_ws(doc, end) + 1  # the comma


def _skip_ws(doc: str, pos: int) -> int:
    while doc[pos] in " \t\r\n":
        pos += 1
    return pos


@pytest.mark.parametrize("key", ["plan", "amount"])
def test_matches_json_loads_on_random_documents(key: str) -> None:
    docs: list[str | None] = random_documents(np.random.default_rng(5), 400) + [None]
    got = json_field_text(docs, key).to_pylist()
    assert got == [expected_text(d, key) for d in docs]
    assert any(g is not None for g in got)


def test_kinds_and_spans_on_hand_written_rows() -> None:
    rows = [
        '{"plan":"pro","amount":9.99}',
        "{}",
        None,
        '{"x":{"plan":"nested"},"plan" : "a\\"b" }',
        "[1,2]",
        '{"plan": true}',
        '{"note":"plan","plan":null}',
        "garbage",
        '{"plan":{"a":1}}',
        '{"pl\\u0061n":"escaped key"}',
        '{"plan":"unterminated',
        '{"plan": 12',
        "",
        '  {"plan":-0.5e3}',
    ]
    _, _, _, kinds = json_field_spans(rows, "plan")
    k = JsonKind
    assert kinds.tolist() == [
        k.STRING,
        k.ABSENT,
        k.ABSENT,
        k.STRING,
        k.ABSENT,
        k.BOOL,
        k.NULL,
        k.ABSENT,
        k.NESTED,
        k.ABSENT,
        k.ABSENT,
        k.NUMBER,
        k.ABSENT,
        k.NUMBER,
    ]
    text = json_field_text(rows, "plan").to_pylist()
    assert text[0] == "pro" and text[3] == 'a\\"b' and text[5] == "true"
    assert text[11] == "12" and text[13] == "-0.5e3"


def test_sliced_and_large_string_inputs_and_huge_values() -> None:
    big = "x" * 100_000
    rows = ["{}", '{"plan":"' + big + '"}', '{"plan":"b"}']
    assert json_field_text(pa.array(rows)[1:], "plan").to_pylist() == [big, "b"]
    assert json_field_text(pa.array(rows, pa.large_string()), "plan").to_pylist()[2] == "b"
    assert json_field_text([], "plan").to_pylist() == []


@pytest.mark.parametrize("key", ["", "a b", 'x"', "k" * 65, 3])
def test_bad_keys_are_rejected(key) -> None:
    with pytest.raises(KernelInputError, match="JSON field key"):
        json_field_spans(["{}"], key)
