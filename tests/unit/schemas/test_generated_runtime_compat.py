"""The flatc 2.0.8 generated code only uses names the installed flatbuffers runtime still has.

The generator (Debian flatc 2.0.8) and the runtime (pip flatbuffers 25.x) come from different
releases. The round-trip tests exercise the common paths; this catches a runtime upgrade that
drops any name the generated code refers to, including rarely used accessors.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import flatbuffers
import flatbuffers.table

GENERATED = Path(__file__).resolve().parents[3] / "schemas" / "generated"


def test_every_runtime_name_used_by_generated_code_exists():
    source = "".join(p.read_text(encoding="utf-8") for p in sorted(GENERATED.glob("*.py")))
    missing = []
    for path in sorted(set(re.findall(r"flatbuffers\.[A-Za-z_][\w.]*\w", source))):
        parts = path.split(".")
        obj = importlib.import_module(".".join(parts[:2]))
        for part in parts[2:]:
            if not hasattr(obj, part):
                missing.append(path)
                break
            obj = getattr(obj, part)
    missing += [
        f"Builder.{m}"
        for m in set(re.findall(r"builder\.(\w+)", source))
        if not hasattr(flatbuffers.Builder, m)
    ]
    missing += [
        f"Table.{m}"
        for m in set(re.findall(r"self\._tab\.(\w+)", source))
        if not hasattr(flatbuffers.table.Table, m)
    ]
    assert not missing, (
        "checking the generated FlatBuffers code against the installed runtime "
        f"(flatbuffers {flatbuffers.__version__}): expected every name it uses to exist, "
        f"missing {missing}"
    )


def test_each_schema_root_type_is_generated():
    for fbs in sorted(GENERATED.parent.glob("*.fbs")):
        root = re.search(r"^root_type\s+(\w+);", fbs.read_text(encoding="utf-8"), re.M)
        assert root, f"{fbs.name}: expected a root_type declaration"
        module = importlib.import_module(f"schemas.generated.{fbs.stem}_generated")
        assert hasattr(getattr(module, root[1]), "GetRootAs"), (fbs.name, root[1])
