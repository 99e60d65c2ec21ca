"""``streamscore etl`` end to end on small files in tmp_path."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from schemas.events import EVENT_SCHEMA
from streams.cli import main
from streams.etl.job import feature_matrix
from tests.support.etl_inputs import BAD_CORPUS
from tests.unit.etl.conftest import FIXTURES

STREAMSCORE = Path(sys.executable).with_name("streamscore")


def _inputs(tmp_path: Path) -> list[Path]:
    paths = []
    for name in ("activity.jsonl", "dpkg.log", "syslog3164.log", "apt_history.log"):
        paths.append(Path(shutil.copy(FIXTURES / name, tmp_path / name)))
    bad = tmp_path / "bad.log"
    bad.write_bytes(b"\n".join(p for p, _ in BAD_CORPUS[:8] if b"\n" not in p) + b"\n")
    paths.append(bad)
    return paths


def test_streamscore_etl_command_writes_events_features_and_rejects(tmp_path):
    inputs = _inputs(tmp_path)
    out = tmp_path / "out"
    cmd = [str(STREAMSCORE), "etl", *map(str, inputs), "--out", str(out),
           "--reference-time", "2025-11-24T16:00:00+00:00"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:5] == ["input", "read", "parsed", "events", "rejected"]
    total = next(x for x in lines if x.startswith("total")).split()
    n_bad = sum(1 for _ in (tmp_path / "bad.log").read_bytes().splitlines())
    read, parsed, events, rejected = map(int, total[1:])
    assert (read, rejected) == (7 + 13 + 10 + 4 + n_bad, n_bad)
    assert parsed == read - rejected and events == 7 + 13 + 10 + 8

    ev = pq.read_table(out / "events.parquet")
    assert ev.schema.remove_metadata() == EVENT_SCHEMA and ev.num_rows == events
    rej = [orjson.loads(x) for x in (out / "rejected.jsonl").read_bytes().splitlines()]
    assert len(rej) == n_bad
    assert all(r["file"] == str(tmp_path / "bad.log") and r["reason"] for r in rej)
    assert {r["line"] for r in rej} == set(range(1, n_bad + 1))
    assert any("raw_base64" in r for r in rej)  # the invalid UTF-8 line kept byte for byte

    act = pq.read_table(out / "features-activity.parquet")
    logs = pq.read_table(out / "features-logs.parquet")
    assert act.num_rows == 7 and logs.num_rows == 13 + 10 + 8
    assert act.schema.field("features").type == pa.binary(
        4 * len(json.loads(act.schema.metadata[b"feature_names"]))
    )  # one float32 vector as bytes per row
    x = feature_matrix(act)
    assert x.dtype == np.float32 and np.isfinite(x).all()
    names = json.loads(act.schema.metadata[b"feature_names"])
    assert x.shape[1] == len(names)
    fitted = json.loads((out / "pipeline-activity.json").read_text())
    assert fitted["fingerprint"] == act.schema.metadata[b"fingerprint"].decode()


def test_etl_reuses_a_fitted_pipeline_and_writes_parquet_rejects(tmp_path, capsys):
    inputs = _inputs(tmp_path)
    first = tmp_path / "first"
    assert main(["etl", *map(str, inputs), "--out", str(first), "--no-progress"]) == 0
    second = tmp_path / "second"
    rc = main(["etl", str(inputs[0]), "--out", str(second), "--spec",
               str(first / "pipeline-activity.json"), "--rejected-format", "parquet"])  # fmt: skip
    assert rc == 0
    a = pq.read_table(first / "features-activity.parquet")
    b = pq.read_table(second / "features.parquet")
    assert a.column("features").equals(b.column("features"))  # same events, same fitted stats
    assert np.array_equal(feature_matrix(a), feature_matrix(b))
    assert pq.read_table(second / "rejected.parquet").num_rows == 0


def test_etl_errors_and_all_rejected_exit_status(tmp_path, capsys):
    assert main(["etl", str(tmp_path / "missing.log"), "--out", str(tmp_path / "o")]) == 2
    assert "argument INPUT: expected a readable file" in capsys.readouterr().err
    bad = tmp_path / "bad.log"
    bad.write_bytes(b"garbage\n\xff\n")
    assert main(["etl", str(bad), "--out", str(tmp_path / "o")]) == 1
    assert main(["etl", str(bad), "--out", str(tmp_path / "o"), "--reference-time", "x"]) == 2


def test_cli_format_choices_are_the_input_formats():
    from streams.cli.etl_cmd import _FORMATS
    from streams.etl import InputFormat

    assert set(_FORMATS) == {f.value for f in InputFormat}


def test_produce_format_choices_are_the_text_input_formats():
    from streams.cli.produce_cmd import _FORMATS
    from streams.etl import InputFormat

    assert set(_FORMATS) == {f.value for f in InputFormat} - {"arrow"}


def test_etl_parse_workers_flag_gives_the_same_files(tmp_path, monkeypatch, capsys):
    """``--parse-workers 2`` parses in two forked processes: the same bytes in every output
    as ``--parse-workers 1`` (in this process), and the same counts printed."""
    from streams.etl import job

    forked = []
    real_pool = job.ParsePool

    def spy(workers):
        forked.append(workers)
        return real_pool(workers)

    monkeypatch.setattr(job, "ParsePool", spy)
    inputs = _inputs(tmp_path)
    printed = {}
    for n in ("1", "2"):
        rc = main(["etl", *map(str, inputs), "--out", str(tmp_path / n), "--no-progress",
                   "--reference-time", "2025-11-24T16:00:00", "--parse-workers", n])  # fmt: skip
        assert rc == 0
        printed[n] = capsys.readouterr().out
    assert forked == [2]
    assert printed["1"].replace(str(tmp_path / "1"), "") == printed["2"].replace(
        str(tmp_path / "2"), "")  # fmt: skip
    assert "total" in printed["1"]
    names = sorted(p.name for p in (tmp_path / "1").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "2").iterdir())
    assert "features-logs.parquet" in names and "rejected.jsonl" in names
    for name in names:
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name
