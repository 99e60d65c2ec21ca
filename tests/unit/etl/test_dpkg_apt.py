from __future__ import annotations

from datetime import UTC, datetime

import orjson

from schemas.deadletter import DeadLetterStage
from tests.unit.etl.conftest import FIXTURES, fixture_lines, parse


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def test_dpkg_lines_map_to_actions_packages_versions():
    lines = fixture_lines("dpkg.log")
    pb = parse(lines, "dpkg")
    assert not pb.rejected
    ev = pb.events.to_pylist()
    got = [(e["action"], e["package"], e["version"]) for e in ev]
    assert got == [
        ("startup", None, None),
        ("install", "cowsay", "3.03+dfsg1-9"),
        ("status:half-installed", "cowsay", "3.03+dfsg1-9"),
        ("status:unpacked", "cowsay", "3.03+dfsg1-9"),
        ("startup", None, None),
        ("configure", "cowsay", "3.03+dfsg1-9"),
        ("status:half-configured", "cowsay", "3.03+dfsg1-9"),
        ("status:installed", "cowsay", "3.03+dfsg1-9"),
        ("upgrade", "libsystemd0", "252.38-1~deb12u1"),
        ("trigproc", "libc-bin", "2.36-9+deb12u10"),
        ("conffile", None, None),
        ("remove", "cowsay", "3.03+dfsg1-9"),
        ("purge", "cowsay", "3.03+dfsg1-9"),
    ]
    first = ev[7]
    assert first["ts_ms"] == ms(2015, 6, 10, 13, 37, 10)
    assert first["entity"] == "testhost" and first["program"] == "dpkg"
    assert first["message"] == "status installed cowsay:all 3.03+dfsg1-9"
    assert {e["source"] for e in ev} == {"dpkg"}


def test_dpkg_bad_lines_are_rejected_with_reasons():
    pb = parse([b"2015-06-10 13:37:10 status installed", b"2015-06-10 13:37:10 frobnicate x y z",
                b"2015-02-30 13:37:10 status installed a 1", b"1999-06-10 13:37:10 startup x y"],
               "dpkg")  # fmt: skip
    assert pb.events.num_rows == 0
    r = [x.reason for x in pb.rejected]
    assert "expected '<state> <package> <version>'" in r[0]
    assert "got 'frobnicate'" in r[1]
    assert r[2] == "dpkg time: expected a day 01..28 in 2015-02, got '2015-02-30 13:37:10'"
    assert pb.rejected[3].stage is DeadLetterStage.VALIDATE and "2000-01-01..2100-01-01" in r[3]


def test_apt_history_file_yields_one_event_per_package_operation():
    text = (FIXTURES / "apt_history.log").read_bytes()
    stanzas = [s.strip() for s in text.split(b"\n\n") if s.strip()]
    pb = parse(stanzas, "apt_history")
    assert not pb.rejected
    ev = pb.events.to_pylist()
    assert pb.source_index.tolist() == [0, 0, 1, 1, 1, 2, 2, 3]
    assert [(e["action"], e["package"], e["version"]) for e in ev] == [
        ("upgrade", "libsystemd0", "252.38-1~deb12u1"),
        ("upgrade", "libudev1", "252.38-1~deb12u1"),
        ("install", "curl", "7.88.1-10+deb12u12"),
        ("install", "libcurl4", "7.88.1-10+deb12u12"),
        ("install", "git", "1:2.39.5-0+deb12u2"),
        ("remove", "cowsay", "3.03+dfsg1-9"),
        ("purge", "cowsay", "3.03+dfsg1-9"),
        ("transaction", None, None),
    ]
    assert orjson.loads(ev[0]["properties"]) == {"from_version": "252.36-1~deb12u1"}
    assert orjson.loads(ev[3]["properties"]) == {"requested_by": "deploy (1000)", "automatic": True}
    assert ev[2]["program"] == "apt-get" and ev[5]["program"] == "apt"
    assert ev[2]["message"] == "apt-get install -qqy curl git"
    assert ev[0]["ts_ms"] == ms(2025, 6, 24, 14, 36, 25)
    assert "error" in orjson.loads(ev[7]["properties"])
    ids = [e["event_id"] for e in ev]
    assert ids[0].endswith(".0") and ids[1].endswith(".1") and ids[0][:-2] == ids[1][:-2]
    assert len(set(ids)) == len(ids)


def test_apt_stanza_without_start_date_or_with_garbage_is_rejected():
    pb = parse([b"Commandline: apt-get x\nEnd-Date: 2025-06-24  14:36:25",
                b"Start-Date: 2025-06-24  14:36:25\nthis is not a key value line",
                b"Start-Date: yesterday"], "apt_history")  # fmt: skip
    assert pb.events.num_rows == 0
    r = [x.reason for x in pb.rejected]
    assert "expected a 'Start-Date:" in r[0]
    assert "line 2: expected 'Key: value'" in r[1]
    assert "got 'yesterday'" in r[2]


def test_a_big_apt_stanza_is_not_cut_by_the_line_limit():
    pkgs = ", ".join(f"lib{k}:amd64 (1.{k}-1, automatic)" for k in range(3000))
    stanza = f"Start-Date: 2025-06-24  14:36:29\nInstall: {pkgs}\nEnd-Date: 2025-06-24  14:37:04"
    assert len(stanza) > 65_536
    pb = parse([stanza.encode()], "auto")
    assert pb.events.num_rows == 3000 and not pb.rejected


def test_trailing_newlines_of_records_are_not_content():
    pb = parse([b"2015-06-10 13:37:10 status installed cowsay:all 3.03+dfsg1-9\r\n"], "auto")
    assert pb.events.column("version").to_pylist() == ["3.03+dfsg1-9"]


def test_caller_given_hosts_fill_lines_that_name_none():
    import pytest

    from streams.etl import InputFormatError, TopicOrigin, parse_batch
    from tests.unit.etl.conftest import OPTS

    lines = [b"2015-06-10 13:37:10 status installed cowsay:all 3.03+dfsg1-9",
             b"<34>1 2003-10-11T22:14:15.003Z - su - - - x",
             b"<34>1 2003-10-11T22:14:15.003Z named su - - - x",
             b"2015-06-10 13:37:10 startup packages configure"]  # fmt: skip
    pb = parse_batch(lines, "auto", TopicOrigin("raw", 0, 0), options=OPTS,
                     hosts=["web01", "web02", "web03", None])  # fmt: skip
    ev = pb.events.to_pylist()
    assert [(e["host"], e["entity"]) for e in ev] == [
        ("web01", "web01"), ("web02", "web02"), ("named", "named"), (None, "testhost")
    ]  # fmt: skip
    with pytest.raises(InputFormatError, match="one per payload"):
        parse_batch(lines, "auto", TopicOrigin("raw", 0, 0), hosts=["x"])
