"""ETL inputs that the ETL tests and the Spark engine tests share: the fixture files of every
supported format, and the bad-input corpus (payload, a part of the reason its rejection must
give)."""

from __future__ import annotations

from pathlib import Path

import orjson

FIXTURES = Path(__file__).resolve().parents[1] / "unit" / "etl" / "fixtures"

BAD_CORPUS: list[tuple[bytes, str]] = [
    (b"", "empty or blank line"),
    (b"   \t ", "empty or blank line"),
    (b"\x00\x01\x02\x03\xff\xfe\xfd", "not valid UTF-8"),
    (bytes(range(256)), "not valid UTF-8"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not valid UTF-8"),
    (b"\x00\x00\x00\x00 nul bytes", "expected a line in a supported format"),
    (b"<34>Oct 11 22:1", "expected '[<PRI>]Mmm dd"),  # truncated 3164
    (b"<165>1 2003-10-11T22:14:15.003Z mymachine", "expected '<PRI>1 TIMESTAMP"),  # truncated
    (b"2015-06-10 13:37:10 status installed cowsay:all", "expected '<state> <package>"),
    (b'127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif', "CLIENT IDENT"),
    (b"[Fri Sep 09 10:42:29.902022 2011] [core:err", "apache error line"),
    (b'{"event_id": "e1", "user_id": "u1", "ts": 17636199', "invalid JSON"),  # truncated JSON
    (b'{"event_id": "e1", "user_id": "u1", "ts": NaN, "type": "view"}', "invalid JSON"),
    (b'{"event_id": "e1", "user_id": "u1", "ts": Infinity, "type": "view"}', "invalid JSON"),
    (b'{"event_id": "e1", "user_id": "u1", "ts": 1e999, "type": "view"}', "infinity"),
    (b'{"event_id": "e1", "user_id": "u1", "ts": "1763619901000", "type": "view"}',
     "expected epoch milliseconds (int), got '1763619901000' (str)"),
    (b'{"event_id": "e1", "user_id": "u1", "ts": 0, "type": "view"}', "2000-01-01..2100-01-01"),
    (b'{"event_id": "e1", "user_id": "u1", "ts": -5, "type": "view"}', "2000-01-01..2100-01-01"),
    (b'{"event_id": "e1", "user_id": "u1", "ts": 99999999999999999, "type": "view"}',
     "2000-01-01..2100-01-01"),
    (b"1999-12-31 23:59:59 status installed a 1", "2000-01-01..2100-01-01"),
    (b"2100-01-01 00:00:00 status installed a 1", "2000-01-01..2100-01-01"),
    (b"<34>1 1970-01-01T00:00:00Z h a - - - m", "2000-01-01..2100-01-01"),
    (orjson.dumps({"event_id": "e", "user_id": "u" * 1000, "ts": 1763619901000, "type": "view"}),
     "expected a string of 1..256 characters"),
    (b"Oct 11 22:14:15 host app: " + b"A" * 70_000, "expected at most 65536 bytes"),
    (b'{"event_id": "e1", "user_id": "u1", "ts": 1763619901000, "type": "view", '
     b'"properties": {"x": "' + b"y" * 17_000 + b'"}}', "at most 16384 bytes"),
    (b"just some words", "expected a line in a supported format"),
    (b"{}", "field 'event_id'"),
    (b"null", "JSON payload: expected an object (an activity event or a Logstash document), "
              "got null"),
    (b"[1, 2, 3]", "JSON payload: expected an object (an activity event or a Logstash "
                   "document), got an array: '[1, 2, 3]'"),
    (b"1763619901000", "JSON payload: expected an object (an activity event or a Logstash "
                       "document), got a number"),
    (b"2015-06-10 13:37", "payload: not a line of any format its start fits; tried dpkg (dpkg "
     "line: expected 'YYYY-MM-DD hh:mm:ss WORD ...', got '2015-06-10 13:37'); syslog 3164 "
     "(syslog 3164 line: expected '[<PRI>]Mmm dd hh:mm:ss HOST"),
]  # fmt: skip
