from __future__ import annotations

from datetime import UTC, datetime

import orjson

from tests.unit.etl.conftest import fixture_lines, parse


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def test_access_log_common_and_combined():
    pb = parse(fixture_lines("access.log"), "access_log")
    assert not pb.rejected
    ev = pb.events.to_pylist()
    frank = ev[0]
    assert frank["ts_ms"] == ms(2000, 10, 10, 20, 55, 36)  # -0700 -> UTC
    assert (frank["entity"], frank["user_id"], frank["host"]) == ("frank", "frank", "127.0.0.1")
    assert frank["action"] == "GET" and frank["message"] == "GET /apache_pb.gif HTTP/1.0"
    assert orjson.loads(frank["properties"]) == {
        "status": 200, "bytes": 2326, "path": "/apache_pb.gif",
        "referer": "http://www.example.com/start.html",
        "agent": "Mozilla/4.08 [en] (Win98; I ;Nav)",
    }  # fmt: skip
    common = ev[1]
    assert common["entity"] == "127.0.0.1" and "referer" not in orjson.loads(common["properties"])
    assert [e["severity"] for e in ev] == [6, 6, 4, 3, 4, 6]
    assert ev[3]["ts_ms"] == ms(2025, 11, 20, 5, 25, 2)  # +0100; trailing nginx fields tolerated
    assert ev[4]["action"] is None  # TLS junk as a request line: kept, no method
    assert ev[5]["host"] == "2001:db8::1" and orjson.loads(ev[5]["properties"])["bytes"] == 0


def test_apache_error_log_22_and_24():
    pb = parse(fixture_lines("apache_error.log"), "apache_error")
    assert not pb.rejected
    ev = pb.events.to_pylist()
    assert ev[0]["ts_ms"] == ms(2000, 10, 11, 14, 32, 52)
    assert (ev[0]["severity"], ev[0]["program"], ev[0]["host"]) == (3, "apache", "127.0.0.1")
    assert ev[0]["message"].startswith("client denied")
    assert ev[1]["ts_ms"] == ms(2011, 9, 9, 10, 42, 29) + 902
    assert (ev[1]["program"], ev[1]["pid"], ev[1]["host"]) == ("core", 35708, "72.15.99.187")
    assert ev[2]["host"] is None and ev[2]["entity"] == "testhost" and ev[2]["severity"] == 5
    assert ev[3]["host"] == "203.0.113.5" and ev[3]["severity"] == 4
    assert ev[4]["host"] == "2001:db8::2" and ev[4]["severity"] == 7
    assert {e["source"] for e in ev} == {"apache_error"}


def test_web_bad_lines():
    pb = parse([b'1.2.3.4 - - [10/Foo/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 1',
                b'1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 2000 1',
                b"[Wed Oct 11 14:32:52 2000] error without brackets"], "auto")  # fmt: skip
    assert pb.events.num_rows == 0
    r = [x.reason for x in pb.rejected]
    assert "'Foo'" in r[0] and "expected 'CLIENT IDENT USER" in r[1] and "apache error" in r[2]
