from __future__ import annotations

from datetime import UTC, datetime

import orjson

from tests.unit.etl.conftest import SAMPLES, parse


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def _doc(**kw) -> bytes:
    base = {"@version": "1", "@timestamp": "2025-11-20T06:25:09.500Z", "host": "shipper"}
    return orjson.dumps({**base, **kw})


def test_seed_samples_parse_the_inner_dpkg_line():
    lines = (SAMPLES / "logstash_dpkg.jsonl").read_bytes().splitlines()
    pb = parse(lines, "auto")
    assert not pb.rejected
    ev = pb.events.to_pylist()
    assert [e["action"] for e in ev] == ["status:installed", "status:half-configured"]
    for e in ev:
        assert e["source"] == "logstash" and e["program"] == "dpkg"
        assert (e["package"], e["version"]) == ("cowsay", "3.03+dfsg1-9")
        assert (e["host"], e["entity"], e["severity"]) == ("scw-08d553",) * 2 + (5,)
        assert e["ts_ms"] == ms(2015, 6, 10, 13, 37, 10)  # the dpkg line's own time
        assert orjson.loads(e["properties"]) == {
            "path": "/var/log/dpkg.log", "type": "syslog", "tags": ["_grokparsefailure"],
            "syslog_facility": "user-level", "syslog_facility_code": 1,
            "syslog_severity": "notice",
        }  # fmt: skip


def test_inner_syslog_and_plain_messages():
    pb = parse([
        _doc(message="<86>Nov 20 06:25:02 web01 sshd[1190]: Accepted publickey", type="syslog"),
        _doc(message="something free-form happened", host={"name": "beats-host"}),
    ], "logstash")  # fmt: skip
    ev = pb.events.to_pylist()
    assert ev[0]["program"] == "sshd" and ev[0]["host"] == "web01" and ev[0]["severity"] == 6
    assert ev[1]["ts_ms"] == ms(2025, 11, 20, 6, 25, 9) + 500  # falls back to @timestamp
    assert ev[1]["message"] == "something free-form happened" and ev[1]["host"] == "beats-host"


def test_grok_fields_fill_in_when_the_message_does_not_parse():
    pb = parse([_doc(message="free text", syslog_hostname="db1", syslog_program="postgres",
                     syslog_pid="4242", syslog_message="checkpoint complete",
                     syslog_severity_code=6)], "logstash")  # fmt: skip
    (e,) = pb.events.to_pylist()
    assert (e["host"], e["program"], e["pid"], e["severity"]) == ("db1", "postgres", 4242, 6)
    assert e["message"] == "checkpoint complete" and e["entity"] == "db1"


def test_bad_logstash_documents():
    pb = parse([_doc(message=5), _doc(message="free text", **{"@timestamp": "yesterday"}),
                b'{"@timestamp": "2025-11-20T06:25:09Z", "message": "x"',
                b'["@timestamp"]'], "logstash")  # fmt: skip
    r = [x.reason for x in pb.rejected]
    assert len(r) == 4
    assert "field 'message': expected a string, got 5 (int)" in r[0]
    assert "'@timestamp': expected an RFC 3339 date-time, got 'yesterday'" in r[1]
    assert "invalid JSON" in r[2] and "expected a JSON object" in r[3]
