"""README.md and its Chinese translation open with the same two commands and keep in step."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
EN = REPO / "README.md"
ZH = REPO / "README.zh-CN.md"
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`([^`]+)`")  # a span may wrap onto the next line


def _first_block(text: str) -> str:
    m = _FENCE.search(text)
    assert m is not None, "no code block"
    return m.group(1)


def _spans(text: str) -> set[str]:
    prose = _FENCE.sub("", text)
    return {" ".join(span.split()) for span in _CODE_SPAN.findall(prose)}


def test_both_readmes_open_with_the_same_two_commands():
    en, zh = EN.read_text(encoding="utf-8"), ZH.read_text(encoding="utf-8")
    block = _first_block(en)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"], commands
    assert _first_block(zh) == block
    for text in (en, zh):  # nothing but the title and the language link before the commands
        head = text[: text.index("```")]
        assert [ln for ln in head.splitlines() if ln.strip()][0] == "# streamscore"
        assert len([ln for ln in head.splitlines() if ln.strip()]) == 2, head


def test_the_english_readme_links_the_translation_at_the_top_and_back():
    en, zh = EN.read_text(encoding="utf-8"), ZH.read_text(encoding="utf-8")
    assert "(README.zh-CN.md)" in en[: en.index("```")]
    assert "(README.md)" in zh[: zh.index("```")]


def test_the_translation_names_everything_the_english_readme_names():
    """Every command, path, setting and value in code spans of README.md appears in the
    translation: a change to one README that the other lacks fails here."""
    en, zh = EN.read_text(encoding="utf-8"), ZH.read_text(encoding="utf-8")
    missing = sorted(_spans(en) - _spans(zh))
    assert not missing, f"README.zh-CN.md lacks {missing}"
    assert sorted(_FENCE.findall(en)) == sorted(_FENCE.findall(zh))
