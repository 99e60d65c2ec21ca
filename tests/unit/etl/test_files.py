"""File readers: text (plain, gz, CRLF, apt stanzas), CSV, Parquet, Arrow; this machine's logs."""

from __future__ import annotations

import gzip
import random
import shutil
from contextlib import nullcontext
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas.events import EVENT_SCHEMA
from streams.etl import FileOrigin, InputFormatError, ParsedBatch, detect_file_kind, read_file
from tests.support.etl_inputs import BAD_CORPUS
from tests.unit.etl.conftest import FIXTURES, OPTS, SAMPLES, parse

LOCAL_LOGS = [Path("/var/log/dpkg.log"), Path("/var/log/apt/history.log")]


def read_all(path: Path, fmt: str = "auto", **kw) -> tuple[pa.Table, list, int]:
    chunks = list(read_file(path, fmt, options=OPTS, **kw))
    events = pa.Table.from_batches([c.parsed.events for c in chunks], schema=EVENT_SCHEMA)
    rejected = [r for c in chunks for r in c.parsed.rejected]
    return events, rejected, sum(c.n_read for c in chunks)


def test_text_file_equals_parse_batch_of_its_lines(tmp_path):
    src = FIXTURES / "syslog3164.log"
    events, rejected, n = read_all(src, chunk_size=3)  # several chunks
    lines = src.read_bytes().splitlines()
    assert n == len(lines) and not rejected
    assert events.to_pylist() == parse(lines, "auto").events.to_pylist()


def test_gzip_and_crlf_text(tmp_path):
    lines = (FIXTURES / "dpkg.log").read_bytes().splitlines()
    gz = tmp_path / "dpkg.log.1.gz"
    gz.write_bytes(gzip.compress(b"\r\n".join(lines) + b"\r\n"))
    events, rejected, n = read_all(gz)
    plain, _, _ = read_all(FIXTURES / "dpkg.log")
    assert n == len(lines) and not rejected
    assert events.equals(plain)


@pytest.mark.parametrize("workers", [0, 2])
def test_a_cut_or_corrupt_gzip_keeps_its_whole_lines_and_rejects_the_rest(tmp_path, workers):
    """A log copied or rotated while it was written ends mid-stream: every whole line before
    the break is read as usual, and the rest is one rejected record (stage decode) that says
    what broke; nothing raises, and nothing read is lost."""
    from streams.etl.files import ParsePool

    rng = random.Random(7)  # unique lines: the compressed bytes track the text
    lines = [line + f" id={rng.getrandbits(64):016x}".encode()
             for line in (FIXTURES / "syslog3164.log").read_bytes().splitlines() * 300]  # fmt: skip
    whole = gzip.compress(b"\n".join(lines) + b"\n")
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    middle = len(whole) // 2
    corrupt = tmp_path / "corrupt.log.gz"  # a gzip header, then no deflate stream zlib reads
    corrupt.write_bytes(whole[:10] + b"not deflate data" * 8)
    garbled = tmp_path / "garbled.log.gz"  # it decodes, to other bytes: the CRC check fails
    garbled.write_bytes(whole[:middle] + bytes(512) + whole[middle + 512 :])

    with ParsePool(workers) if workers else nullcontext() as pool:
        for path, error, some in (
            (cut, "EOFError: Compressed file ended", True),
            (garbled, "BadGzipFile: CRC check failed", True),
            (corrupt, "zlib error", False),
        ):
            events, rejected, n = read_all(path, chunk_size=50, pool=pool)
            got = n - 1  # whole lines read, then the rest as one record
            assert len(lines) // 3 < got < len(lines) if some else got == 0, got
            if path is cut:  # the file's first lines, as if it were whole (a corrupt stream
                # decodes to some garbage before zlib notices, as it would for zcat)
                plain = parse(lines[:got], "auto")
                assert events.to_pylist() == plain.events.to_pylist()
                assert [r.reason for r in rejected[:-1]] == [r.reason for r in plain.rejected]
            last = rejected[-1]
            assert last.stage.label == "decode" and last.origin == FileOrigin(str(path), got + 1)
            assert last.reason.startswith(
                "gzip file: expected a whole, valid stream"
            ) and error in (last.reason), last.reason
            assert lines[got].startswith(last.raw)  # the incomplete line read before the break


def test_apt_history_file_stanzas_have_start_line_origins(tmp_path):
    text = (FIXTURES / "apt_history.log").read_text()
    bad = tmp_path / "history.log"
    bad.write_text(text + "\nStart-Date: 2025-06-27  10:00:00\nnot a field\nEnd-Date: x\n")
    events, rejected, n = read_all(bad)
    assert n == 5 and events.num_rows == 8
    (rej,) = rejected
    assert rej.origin == FileOrigin(str(bad), 24) and "expected 'Key: value'" in rej.reason
    assert rej.raw.startswith(b"Start-Date: 2025-06-27") and rej.raw.endswith(b"End-Date: x")


def test_bad_corpus_file_every_line_is_an_event_or_one_error(tmp_path):
    good = (FIXTURES / "syslog3164.log").read_bytes().splitlines()
    bad = [p for p, _ in BAD_CORPUS if b"\n" not in p and b"\r" not in p]
    lines = [x for pair in zip(good, bad, strict=False) for x in pair] + bad[len(good) :]
    path = tmp_path / "mixed.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    events, rejected, n = read_all(path)
    assert n == len(lines)
    assert events.num_rows + len(rejected) == len(lines)
    assert len(rejected) == len(bad)
    for r in rejected:
        assert lines[r.origin.line - 1] == r.raw


@pytest.mark.parametrize("path", LOCAL_LOGS, ids=lambda p: p.name)
def test_this_machines_package_logs(path, tmp_path):
    """This machine's own dpkg/apt logs when present; the fixtures cover the formats otherwise."""
    if not path.is_file():
        path = FIXTURES / ("dpkg.log" if path.name == "dpkg.log" else "apt_history.log")
    copy = tmp_path / path.name  # a snapshot: the live file can grow while we read it
    shutil.copyfile(path, copy)
    events, rejected, n = read_all(copy)
    assert not rejected, rejected[:3]
    assert events.num_rows >= n > 0
    sources = set(events.column("source").to_pylist())
    assert sources == {"dpkg"} if path.name == "dpkg.log" else {"apt_history"}
    actions = set(events.column("action").to_pylist())
    assert actions & {"install", "upgrade", "status:installed", "remove", "configure"}


def test_csv_activity_file_with_bad_rows(tmp_path):
    path = tmp_path / "activity.csv"
    path.write_text(
        "event_id,user_id,ts,type,properties\n"
        "e1,u1,1763619901000,login,\n"
        'e2,u1,1763619902000,purchase,"{""amount"": 9.5}"\n'
        "e3,u2,2015-06-10,view,\n"
        "e4,u2\n"
        "e5,u2,1763619905000,teleport,\n"
        'e6,u3,1763619906000,view,"{""a"": 1}"\n'
    )
    events, rejected, n = read_all(path)
    assert n == 6
    assert events.column("event_id").to_pylist() == ["e1", "e2", "e6"]
    assert events.column("properties").to_pylist() == [None, '{"amount":9.5}', '{"a":1}']
    assert [r.origin.line for r in rejected] == [4, 5, 6]
    assert "expected epoch milliseconds (int), got '2015-06-10' (str)" in rejected[0].reason
    assert rejected[0].raw.startswith(b'"e3","u2","2015-06-10"')
    assert rejected[1].raw == b"e4,u2" and "expected 5 columns, got 2" in rejected[1].reason
    assert "field 'type': expected one of" in rejected[2].reason


def test_csv_that_is_not_an_event_file_rejects_every_line():
    events, rejected, n = read_all(SAMPLES / "labelled.csv")
    assert events.num_rows == 0 and n == len(rejected) == 3
    assert "expected a header naming the activity columns" in rejected[0].reason
    assert [r.origin.line for r in rejected] == [1, 2, 3]


def test_parquet_and_arrow_activity_files(tmp_path):
    docs = [orjson.loads(x) for x in (FIXTURES / "activity.jsonl").read_bytes().splitlines()]
    table = pa.table({
        "event_id": [d["event_id"] for d in docs],
        "user_id": [d["user_id"] for d in docs],
        "ts": pa.array([d["ts"] for d in docs], pa.int64()),
        "type": [d["type"] if k != 3 else "bogus" for k, d in enumerate(docs)],
        "properties": [orjson.dumps(d["properties"]).decode() if d.get("properties") else None
                       for d in docs],
    })  # fmt: skip
    pq.write_table(table, tmp_path / "a.parquet", row_group_size=3)
    with pa.OSFile(str(tmp_path / "a.arrow"), "wb") as f, pa.ipc.new_file(f, table.schema) as w:
        w.write_table(table, max_chunksize=2)
    with pa.OSFile(str(tmp_path / "a.data"), "wb") as f, pa.ipc.new_stream(f, table.schema) as w:
        w.write_table(table)
    json_events, _, _ = read_all(FIXTURES / "activity.jsonl")
    expected = [e for k, e in enumerate(json_events.to_pylist()) if k != 3]
    for name in ("a.parquet", "a.arrow", "a.data"):
        events, rejected, n = read_all(tmp_path / name, chunk_size=3)
        assert n == 7 and events.to_pylist() == expected, name
        (rej,) = rejected
        assert rej.origin.line == 4 and "'bogus'" in rej.reason
        assert orjson.loads(rej.raw)["event_id"] == "e-0004"
    assert detect_file_kind(tmp_path / "a.data") == "arrow"


def test_normalised_events_parquet_reads_back_unchanged(tmp_path):
    events, _, _ = read_all(FIXTURES / "apache_error.log")
    pq.write_table(events, tmp_path / "events.parquet")
    again, rejected, n = read_all(tmp_path / "events.parquet")
    assert not rejected and again.equals(events)


def test_unknown_kind_and_format():
    with pytest.raises(InputFormatError):
        list(read_file(FIXTURES / "dpkg.log", kind="xls"))  # type: ignore[arg-type]
    with pytest.raises(InputFormatError):
        list(read_file(FIXTURES / "dpkg.log", "yaml"))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.log"
    path.write_bytes(b"")
    assert list(read_file(path)) == []
    blank = tmp_path / "blank.log"
    blank.write_bytes(b"\n\n")
    (chunk,) = list(read_file(blank))
    assert isinstance(chunk.parsed, ParsedBatch) and len(chunk.parsed.rejected) == 2


def test_offline_file_equals_online_micro_batches_of_the_same_lines(tmp_path):
    """The same lines read from a file, or consumed as records in batches of any size, give
    identical events (ids included: they hash content, not origin)."""
    import random

    from streams.etl import TopicOrigin, parse_batch

    lines = []
    for name in ("syslog3164.log", "dpkg.log", "access.log", "activity.jsonl"):
        lines += (FIXTURES / name).read_bytes().splitlines()
    random.Random(3).shuffle(lines)
    path = tmp_path / "mixed.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    offline, _, _ = read_all(path, chunk_size=4)
    rng = random.Random(4)
    online, offset = [], 0
    while offset < len(lines):
        size = rng.randrange(1, 9)
        batch = lines[offset : offset + size]
        online.append(parse_batch(batch, "auto", TopicOrigin("raw", 0, offset), options=OPTS))
        offset += size
    table = pa.Table.from_batches([p.events for p in online], schema=EVENT_SCHEMA)
    assert table.equals(offline)
