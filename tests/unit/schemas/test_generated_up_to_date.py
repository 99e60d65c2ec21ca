"""The committed generated code is exactly what schemas/regen.sh produces from schemas/*.fbs.

Fails (never skips) without flatc: install flatbuffers-compiler. After editing a .fbs file,
run ``make schemas`` (or ``schemas/regen.sh``) and commit schemas/generated.
"""

from __future__ import annotations

import filecmp
import os
import subprocess
from pathlib import Path

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"


def test_generated_code_is_up_to_date(flatc, tmp_path):
    out = tmp_path / "generated"
    env = {**os.environ, "FLATC": flatc}
    done = subprocess.run(
        [str(SCHEMAS / "regen.sh"), str(out)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, f"schemas/regen.sh failed ({done.returncode}): {done.stderr}"
    committed = SCHEMAS / "generated"
    names = sorted(p.name for p in out.iterdir())
    committed_names = sorted(p.name for p in committed.iterdir() if p.name != "__pycache__")
    assert names == committed_names, (
        f"regenerating schemas: expected the files {committed_names} in schemas/generated, "
        f"flatc produced {names}; run `make schemas` and commit schemas/generated"
    )
    _, mismatch, errors = filecmp.cmpfiles(out, committed, names, shallow=False)
    assert not mismatch and not errors, (
        f"regenerating schemas: {mismatch + errors} differ from the committed copies; "
        "run `make schemas` and commit schemas/generated"
    )
    assert len(names) == len(list(SCHEMAS.glob("*.fbs"))) + 1  # one module per schema + __init__
