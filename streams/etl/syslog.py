"""RFC 3164 (BSD) and RFC 5424 syslog lines.

3164: ``<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG``. ``<PRI>`` is optional (files under
/var/log have none; severity is then null), the time has no year (see
:class:`~streams.etl.types.ParseOptions` for the rule) and no zone (taken at
``naive_utc_offset_min``). An RFC 3339 time in place of the BSD one (rsyslog's high-precision
file format) is accepted too. TAG is what real machines write before the colon:

- one word, with or without ``[PID]``: ``su:``, ``CRON[23451]:``, ``sshd(pam_unix)[19939]:``;
- up to four words before a numeric ``[PID]`` (macOS applications, login's ``-- root``):
  ``Microsoft Word[14463]:``, ``Google Chrome[35628]:``;
- a name and a version (digits with at least one dot), with or without ``[PID]``:
  ``syslogd 1.4.1:``, ``BezelServices 255.10[94]:``; the version goes to ``version``, the
  name to ``program``;
- any of these followed by a ``(CONTEXT)`` (launchd, sandboxd): ``sandboxd[129] ([31211]):``;
  the context goes to ``properties`` as ``{"context": "[31211]"}``.

Spaces after the host and after the tag's colon are separators, not content; otherwise the
message is the rest of the line byte for byte (trailing spaces stay). A line whose words after
the host fit none of these shapes has no tag: all of it is the message.

5424: ``<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD...] MSG``. The nil time ``-`` is rejected
(an event needs a time); MSGID goes to ``action``; structured data goes to ``properties`` as
``{"sd-id": {"param": "value"}}``; a UTF-8 BOM before MSG is dropped.
"""

from __future__ import annotations

import re

import orjson

from streams.etl._sink import Ctx
from streams.etl._time import MONTHS, SecondCache, civil_ms, parse_rfc3339
from streams.etl.errors import ParseError

__all__ = ["parse_3164", "parse_5424"]

_S3164 = "syslog3164"
_S5424 = "syslog5424"

_RE_3164 = re.compile(
    r"(?:<(\d{1,3})>)?"
    r"(?:([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)"  # month checked by _bsd_ms
    r"|(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?)) "
    r"(\S+)(?: ++"  # HOST, then any number of spaces
    # TAG: a word; more words only before a numeric [PID] ('Microsoft Word[14463]'), or a
    # version ('syslogd 1.4.1'); then [PID], a (CONTEXT) and the colon, spaces after it dropped.
    r"(?:([^:\[\]\s]{1,64}+(?:(?: [^:\[\]\s]{1,64}+){1,3}+(?=\[\d{1,10}\])"
    r"| \d{1,9}(?:\.\w{1,9}){1,4}(?=[:\[]))?)"
    r"(?:\[([^\]]{0,32})\])?(?: \(([^()]{0,256})\))?: *+)?(.*))?\Z",
    re.DOTALL,
)
_RE_VERSION = re.compile(r"(.*) (\d{1,9}(?:\.\w{1,9}){1,4})\Z")
_RE_5424 = re.compile(
    r"<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) "
    r"(-|(?:\[(?:[^\]\"\\]|\\.|\"(?:[^\"\\]|\\.)*\")*\])+)(?: (.*))?\Z",
    re.DOTALL,
)
_RE_SD_ELEMENT = re.compile(r"\[([^\s\]=\"]+)((?: +[^\s=\]\"]+=\"(?:[^\"\\]|\\.)*\")*) *\]")
_RE_SD_PARAM = re.compile(r"([^\s=\]\"]+)=\"((?:[^\"\\]|\\.)*)\"")
_RE_SD_UNESCAPE = re.compile(r"\\([\"\\\]])")

_bsd_cache: dict[tuple[int, int], SecondCache] = {}
_DAY_MS = 86_400_000
_PID_MAX = 2**31 - 1


def _pri(text: str, what: str) -> int:
    pri = int(text)
    if pri > 191:
        raise ParseError(f"{what} PRI: expected 0..191 (facility*8+severity), got {pri}")
    return pri


def _bsd_ms(stamp: str, ctx: Ctx) -> int:
    # The year decision depends only on the reference *day*, so the cache survives calls.
    ref_day = ctx.ref_ms // _DAY_MS
    cache = ctx.bsd_cache
    if cache is None:
        key = (ref_day, ctx.naive_offset_ms)
        cache = _bsd_cache.get(key)
        if cache is None:
            _bsd_cache.clear()
            cache = _bsd_cache[key] = SecondCache()
        ctx.bsd_cache = cache
    ms = cache.get(stamp)
    if ms is None:
        mo = MONTHS.get(stamp[:3])
        if mo is None:
            raise ParseError(f"syslog 3164 time: expected a month like 'Oct', got {stamp[:3]!r}")
        d, h, mi, s = int(stamp[4:6]), int(stamp[7:9]), int(stamp[10:12]), int(stamp[13:15])
        year = _year_for(ctx.ref_year, mo, d)
        try:
            ms = civil_ms(year, mo, d, h, mi, s, stamp, year_in_text=False)
            if ms - ctx.naive_offset_ms >= (ref_day + 8) * _DAY_MS:
                ms = civil_ms(_year_for(year - 1, mo, d), mo, d, h, mi, s)
        except ParseError as exc:
            raise ParseError(f"syslog 3164 time: {exc}") from None
        ms = cache.put(stamp, ms - ctx.naive_offset_ms)
    return ms


def _year_for(year: int, mo: int, d: int) -> int:
    """``year``, or for Feb 29 the latest leap year not after it."""
    if mo == 2 and d == 29:
        while not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
            year -= 1
    return year


def _pid(text: str | None) -> int | None:
    if text and text.isdigit() and len(text) <= 10:
        pid = int(text)
        return pid if pid <= _PID_MAX else None
    return None


def parse_3164(text: str, ctx: Ctx) -> tuple:
    """One RFC 3164 line -> event fields after ``event_id``; ``ParseError`` if it is not one."""
    m = _RE_3164.match(text)
    if m is None:
        raise ParseError(
            "syslog 3164 line: expected '[<PRI>]Mmm dd hh:mm:ss HOST [TAG[PID]:] MSG' (or an "
            f"RFC 3339 time for 'Mmm dd hh:mm:ss'), got {text[:80]!r}"
        )
    pri, bsd, iso, host, tag, pid, context, msg = m.groups()
    if bsd:
        cache = ctx.bsd_cache  # the common case inlined: one dict lookup per line
        ts = cache.get(bsd) if cache is not None else None
        if ts is None:
            ts = _bsd_ms(bsd, ctx)
    else:
        ts = parse_rfc3339(iso, ctx.naive_offset_ms, "syslog 3164 time")
    if pri:
        sev = int(pri)
        if sev > 191:
            _pri(pri, "syslog 3164")
        sev &= 7
    else:
        sev = None
    if pid is not None:
        pid = int(pid) if pid.isdigit() and len(pid) < 10 else None
    version = props = None
    if tag is not None and " " in tag:  # rare: a name with spaces, or a name and version
        v = _RE_VERSION.match(tag)
        if v is not None:
            tag, version = v.groups()
    if context is not None:
        props = orjson.dumps({"context": context}).decode()
    return (ts, host, _S3164, "log", None, host, tag, pid, sev, None, None, version,
            msg if msg is not None else "", props)  # fmt: skip


def _structured_data(sd: str) -> str | None:
    if sd == "-":
        return None
    out: dict[str, dict[str, str]] = {}
    for sd_id, params in _RE_SD_ELEMENT.findall(sd):
        out[sd_id] = {k: _RE_SD_UNESCAPE.sub(r"\1", v) for k, v in _RE_SD_PARAM.findall(params)}
    return orjson.dumps(out).decode()


def parse_5424(text: str, ctx: Ctx) -> tuple:
    """One RFC 5424 line -> event fields after ``event_id``; ``ParseError`` if it is not one."""
    m = _RE_5424.match(text)
    if m is None:
        raise ParseError(
            "syslog 5424 line: expected '<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD [MSG]', "
            f"got {text[:80]!r}"
        )
    pri, version, stamp, host, app, procid, msgid, sd, msg = m.groups()
    if version != "1":
        raise ParseError(f"syslog 5424 VERSION: expected 1, got {version}")
    if stamp == "-":
        raise ParseError("syslog 5424 time: expected an RFC 3339 date-time, got nil '-'")
    ts = parse_rfc3339(stamp, 0, "syslog 5424 time")
    host = ctx.given_host if host == "-" else host
    if msg and msg[0] == "\ufeff":
        msg = msg[1:]
    return (ts, host or ctx.host, _S5424, "log", None, host, None if app == "-" else app,
            _pid(procid), _pri(pri, "syslog 5424") & 7, None if msgid == "-" else msgid, None,
            None, msg if msg is not None else "", _structured_data(sd))  # fmt: skip
