from __future__ import annotations

import random
import re
from datetime import UTC, datetime

from schemas.deadletter import DeadLetterStage
from tests.unit.etl.conftest import fixture_lines, parse


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def test_rfc3164_fixture_lines_all_parse():
    lines = fixture_lines("syslog3164.log")
    pb = parse(lines, "syslog")
    assert not pb.rejected
    ev = pb.events.to_pylist()
    assert len(ev) == len(lines)
    su = ev[0]
    assert (su["host"], su["entity"], su["program"], su["severity"]) == ("mymachine",) * 2 + (
        "su",
        2,
    )
    assert su["ts_ms"] == ms(2025, 10, 11, 22, 14, 15)
    assert su["message"] == "'su root' failed for lonvick on /dev/pts/8"
    assert su["source"] == "syslog3164" and su["event_type"] == "log"
    bfg = ev[1]  # no tag: the whole rest is the message
    assert (
        bfg["program"] is None and bfg["message"] == "Use the BFG!" and bfg["host"] == "10.0.0.99"
    )
    assert ev[2]["program"] == "myproc" and ev[2]["pid"] == 10 and ev[2]["severity"] == 5
    cron = ev[4]  # /var/log/syslog style: no PRI -> no severity
    assert cron["severity"] is None and cron["program"] == "CRON" and cron["pid"] == 23451
    assert cron["ts_ms"] == ms(2025, 11, 20, 6, 25, 1)
    assert ev[7]["program"] == "kernel" and ev[7]["message"].startswith("[1234567.890123]")
    assert ev[8]["program"] == "postfix/smtpd"
    hp = ev[9]  # rsyslog high-precision timestamp
    assert hp["ts_ms"] == ms(2025, 11, 20, 6, 25, 6) + 123 and hp["program"] == "sudo"


def test_rfc3164_year_rule_puts_december_lines_in_the_previous_year():
    jan_ref = ms(2026, 1, 3)
    pb = parse([b"Dec 31 23:59:59 h p: x", b"Jan  9 00:00:00 h p: x", b"Jan 12 00:00:00 h p: x"],
               "syslog3164", reference_ms=jan_ref)  # fmt: skip
    got = pb.events.column("ts_ms").to_pylist()
    assert got == [ms(2025, 12, 31, 23, 59, 59), ms(2026, 1, 9), ms(2025, 1, 12)]


def test_rfc3164_naive_offset_shifts_local_times():
    pb = parse([b"Nov 20 06:00:00 h p: x"], "syslog3164", naive_utc_offset_min=60)
    assert pb.events.column("ts_ms")[0].as_py() == ms(2025, 11, 20, 5)


def test_rfc5424_fixture_lines():
    lines = fixture_lines("syslog5424.log")
    pb = parse(lines, "syslog")
    assert not pb.rejected
    ev = pb.events.to_pylist()
    assert {e["source"] for e in ev} == {"syslog5424"}
    assert ev[0]["message"] == "'su root' failed for lonvick on /dev/pts/8"  # BOM dropped
    assert ev[0]["action"] == "ID47" and ev[0]["severity"] == 2 and ev[0]["program"] == "su"
    assert ev[0]["ts_ms"] == ms(2003, 10, 11, 22, 14, 15) + 3
    assert ev[1]["ts_ms"] == ms(2003, 8, 24, 12, 14, 15) and ev[1]["pid"] == 8710
    assert ev[2]["properties"] == (
        '{"exampleSDID@32473":{"iut":"3","eventSource":"Application","eventID":"1011"}}'
    )
    assert ev[3]["message"] == "" and "examplePriority@32473" in ev[3]["properties"]
    assert ev[4]["ts_ms"] == ms(2025, 11, 20, 5, 25, 1) + 512
    assert '"note":"a \\"quoted] value"' in ev[4]["properties"]


def test_syslog_rejections_say_what_was_expected():
    bad = [
        b"<34>2 2003-10-11T22:14:15Z h a - - - msg",  # unknown version
        b"<34>1 - h a - - - msg",  # nil time
        b"<999>Oct 11 22:14:15 h su: x",  # PRI out of range
        b"Foo 11 22:14:15 h su: x",  # not a month
        b"Feb 30 22:14:15 h su: x",  # no such day
        b"<34>1 2003-13-11T22:14:15Z h a - - - m",  # month 13
        b"Oct 11 22:14",  # truncated
    ]
    pb = parse(bad, "syslog")
    assert pb.events.num_rows == 0
    reasons = [r.reason for r in pb.rejected]
    assert "VERSION: expected 1, got 2" in reasons[0]
    assert reasons[1] == "syslog 5424 time: expected an RFC 3339 date-time, got nil '-'"
    assert "expected 0..191" in reasons[2] and "999" in reasons[2]
    assert "month" in reasons[3] and "'Foo'" in reasons[3]
    assert reasons[4] == "syslog 3164 time: expected a day 01..29 in Feb, got 'Feb 30 22:14:15'"
    assert reasons[5] == ("syslog 5424 time: expected a month 01..12, got '2003-13-11T22:14:15Z'")
    assert "expected '[<PRI>]Mmm dd hh:mm:ss HOST" in reasons[6]
    assert all(r.stage is DeadLetterStage.PARSE and r.error == "ParseError" for r in pb.rejected)


def test_event_ids_are_deterministic_content_hashes():
    lines = fixture_lines("syslog3164.log")
    a = parse(lines, "syslog").events.column("event_id").to_pylist()
    b = parse(list(reversed(lines)), "auto").events.column("event_id").to_pylist()
    assert a == list(reversed(b))
    assert len(set(a)) == len(a) and all(len(x) == 20 for x in a)


def test_rfc3164_tags_as_real_machines_write_them():
    lines = fixture_lines("syslog3164_tags.log")
    pb = parse(lines, "syslog3164")
    assert not pb.rejected
    got = [(e["program"], e["pid"], e["version"], e["message"], e["properties"])
           for e in pb.events.to_pylist()]  # fmt: skip
    assert got == [
        ("Microsoft Word", 14463, None, "Cocoa scripting error for '0x00020016': four character "
         "codes must be four characters long.  ", None),  # trailing spaces stay
        ("Google Chrome", 35628, None, "objc[35628]: Class FooBar is implemented in both", None),
        ("BezelServices", 94, "255.10", "ASSERTION FAILED: dvcAddrRef != ((void *)0) "
         "-[DriverServices getDeviceAddress:] line: 2789", None),
        ("sandboxd", 129, None, "deny mach-lookup com.apple.coresymbolicationd",
         '{"context":"[31211]"}'),
        ("com.apple.xpc.launchd", 1, None, "Path not allowed in target domain: type = pid, "
         "path = /System/Library/Frameworks/WebKit.framework",
         '{"context":"com.apple.xpc.launchd.domain.pid.WebContent.32502"}'),
        ("syslogd", None, "1.4.1", "restart.", None),
        ("-- root", 2421, None, "ROOT LOGIN ON tty2", None),  # two spaces after the host
        ("kernel", None, None, "BIOS-e820: 0000000000000000 - 000000000009f800 (usable)", None),
        ("sshd(pam_unix)", 19939, None, "check pass; user unknown", None),
    ]  # fmt: skip
    assert {e["host"] for e in pb.events.to_pylist()} == {"macbook", "combo"}


def test_rfc3164_words_that_are_not_a_tag_stay_in_the_message():
    pb = parse([
        b"Nov 20 06:25:10 h Microsoft Word: no pid, so not a tag of two words",
        b"Nov 20 06:25:10 h Use the BFG[x]: a bracket that holds no pid",
        b"Nov 20 06:25:10 h one two three four five[12]: more words than a tag has",
        b"Nov 20 06:25:10 h  last message repeated 3 times ",
        b"Nov 20 06:25:10 h app[12] x: the colon is not the tag's",
    ], "syslog3164")  # fmt: skip
    ev = pb.events.to_pylist()
    assert [e["program"] for e in ev] == [None] * 5
    assert [e["message"] for e in ev] == [
        "Microsoft Word: no pid, so not a tag of two words",
        "Use the BFG[x]: a bracket that holds no pid",
        "one two three four five[12]: more words than a tag has",
        "last message repeated 3 times ",
        "app[12] x: the colon is not the tag's",
    ]


def test_rfc3164_tag_fuzz_message_is_always_the_lines_tail():
    """Random tag-like heads (words, spaces, brackets, parens, colons): never a rejection of a
    line with a valid head, never a leading space, and the message is the line's own tail."""
    rng = random.Random(3164)
    pieces = ["Microsoft", "Word", "sshd", "1.4.1", "255.10", "[", "]", "[14463]", "(", ")",
              "([31211])", ":", " ", "  ", "-", "--", "x", "\t", "é", "[]", "()"]  # fmt: skip
    lines = []
    for _ in range(3000):
        tail = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 12)))
        lines.append(f"Nov 20 06:25:10 host {tail}".encode())
    pb = parse(lines, "syslog3164")
    assert not pb.rejected
    for line, e in zip(lines, pb.events.to_pylist(), strict=True):
        text = line.decode()
        assert e["host"] == "host"
        assert text.endswith(e["message"]), (text, e["message"])
        assert not e["message"].startswith(" ")
        if e["program"] is not None:
            assert e["program"] == e["program"].strip() and e["program"] in text
        if e["pid"] is not None:
            assert f"[{e['pid']}]" in text


TIME_ERRORS = [
    (b"Feb 30 22:14:15 h su: x", "syslog3164",
     "syslog 3164 time: expected a day 01..29 in Feb, got 'Feb 30 22:14:15'"),
    (b"Apr 31 22:14:15 h su: x", "syslog3164",
     "syslog 3164 time: expected a day 01..30 in Apr, got 'Apr 31 22:14:15'"),
    (b"Oct 11 25:14:15 h su: x", "syslog3164",
     "syslog 3164 time: expected an hour 00..23, got 'Oct 11 25:14:15'"),
    (b"Foo 11 22:14:15 h su: x", "syslog3164",
     "syslog 3164 time: expected a month like 'Oct', got 'Foo'"),
    (b"2025-11-20T06:61:06Z h sudo: x", "syslog3164",
     "syslog 3164 time: expected a minute 00..59, got '2025-11-20T06:61:06Z'"),
    (b"<34>1 2003-10-11T22:14:99Z h a - - - m", "syslog5424",
     "syslog 5424 time: expected a second 00..60, got '2003-10-11T22:14:99Z'"),
    (b"<34>1 2003-10-11 h a - - - m", "syslog5424",
     "syslog 5424 time: expected an RFC 3339 date-time, got '2003-10-11'"),
    (b"2015-02-29 13:37:10 startup archives unpack", "dpkg",
     "dpkg time: expected a day 01..28 in 2015-02, got '2015-02-29 13:37:10'"),
    (b'1.2.3.4 - - [31/Jun/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 1', "access_log",
     "access log time: expected a day 01..30 in 2000-06, got '31/Jun/2000:13:55:36 -0700'"),
    (b"[Fri Sep 31 10:42:29.902022 2011] [core:error] x", "apache_error",
     "apache error time: expected a day 01..30 in 2011-09, got 'Fri Sep 31 10:42:29.902022 2011'"),
    (b"Start-Date: 2025-13-01  10:00:00\nCommandline: apt x\nEnd-Date: 2025-13-01  10:00:01",
     "apt_history",
     "apt history time: expected a month 01..12, got '2025-13-01  10:00:00'"),
]  # fmt: skip


def test_time_errors_share_one_form_and_never_invent_a_year():
    for payload, fmt, expected in TIME_ERRORS:
        pb = parse([payload], fmt)
        assert [r.reason for r in pb.rejected] == [expected], payload
    # An RFC 3164 line has no year: its reasons show none, whichever year the parser inferred.
    for stamp in (b"Feb 30 22:14:15", b"Feb 29 24:00:00", b"Nov 31 00:00:00"):
        (rej,) = parse([stamp + b" h su: x"], "syslog3164").rejected
        assert not re.search(r"(19|20)\d\d", rej.reason), rej.reason
