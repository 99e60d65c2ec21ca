"""Web server logs: Apache/Nginx access logs (common and combined) and Apache error logs.

Access log: ``CLIENT IDENT USER [10/Oct/2000:13:55:36 -0700] "GET /x HTTP/1.0" 200 2326
"referer" "agent"`` (referer/agent optional, trailing extra fields tolerated). ``host`` is the
client address, ``user_id`` the authenticated user when not ``-``, so the entity is the user or
else the client. ``action`` is the HTTP method, ``message`` the request line, ``severity`` comes
from the status (5xx -> 3 error, 4xx -> 4 warning, else 6 info) and ``properties`` holds
``{"status", "bytes", "path", "referer", "agent"}``.

Apache error log, 2.2 ``[Wed Oct 11 14:32:52 2000] [error] [client 1.2.3.4] msg`` and 2.4
``[Fri Sep 09 10:42:29.902022 2011] [core:error] [pid 35708:tid 4328] [client 1.2.3.4:80] msg``:
time taken at ``naive_utc_offset_min``, ``program`` = module (or ``apache``), severity from the
level, host = client address (or ``default_host``).
"""

from __future__ import annotations

import re

import orjson

from streams.etl._sink import Ctx
from streams.etl._time import MONTHS, SecondCache, civil_ms
from streams.etl.errors import ParseError

__all__ = ["parse_access", "parse_apache_error"]

_SRC_ACCESS = "access_log"
_SRC_ERROR = "apache_error"
_Q = r"\"((?:[^\"\\]|\\.)*)\""
_RE_ACCESS = re.compile(
    rf"(\S+) (\S+) (\S+) \[(\d\d/\w\w\w/\d{{4}}:\d\d:\d\d:\d\d [+-]\d{{4}})\] {_Q} (\d{{3}}) "
    rf"(\d+|-)(?: {_Q} {_Q})?(.*)\Z",
    re.DOTALL,
)
_access_cache = SecondCache()


def _access_ms(stamp: str) -> int:
    ms = _access_cache.get(stamp)
    if ms is None:
        mo = MONTHS.get(stamp[3:6])
        if mo is None:
            raise ParseError(f"access log time: expected a month like 'Oct', got {stamp[3:6]!r}")
        try:
            base = civil_ms(int(stamp[7:11]), mo, int(stamp[:2]), int(stamp[12:14]),
                            int(stamp[15:17]), int(stamp[18:20]), stamp)  # fmt: skip
        except ParseError as exc:
            raise ParseError(f"access log time: {exc}") from None
        off = (int(stamp[22:24]) * 60 + int(stamp[24:26])) * 60_000
        ms = _access_cache.put(stamp, base - off if stamp[21] == "+" else base + off)
    return ms


def parse_access(text: str, ctx: Ctx) -> tuple:
    """One access-log line -> event fields after ``event_id``; ``ParseError`` if it is not one."""
    m = _RE_ACCESS.match(text)
    if m is None:
        raise ParseError(
            "access log line: expected 'CLIENT IDENT USER [dd/Mon/yyyy:hh:mm:ss +zzzz] "
            f'"REQUEST" STATUS BYTES ["REFERER" "AGENT"]\', got {text[:80]!r}'
        )
    client, _ident, user, stamp, request, status, size, referer, agent, _rest = m.groups()
    ts = _access_ms(stamp)
    code = int(status)
    method, _, target = request.partition(" ")
    path = target.rsplit(" ", 1)[0] if target else None
    props = {"status": code, "bytes": 0 if size == "-" else int(size), "path": path}
    if referer is not None:
        props["referer"] = referer
        props["agent"] = agent
    user_id = None if user == "-" else user
    sev = 3 if code >= 500 else 4 if code >= 400 else 6
    action = method if target else None
    return (ts, user_id or client, _SRC_ACCESS, "log", user_id, client, None, None, sev, action,
            None, None, request, orjson.dumps(props).decode())  # fmt: skip


_RE_ERROR = re.compile(
    r"\[(?:\w{3} )?(\w{3}) ([ \d]\d) (\d\d):(\d\d):(\d\d)(?:\.(\d+))? (\d{4})\] "
    r"\[(?:([\w-]+):)?(\w+)\](?: \[pid (\d+)(?::tid \d+)?\])?"
    r"(?: \[client (\[[^\]]*\](?::\d+)?|[^\]]+)\])? ?(.*)\Z",
    re.DOTALL,
)
_LEVELS = {
    "emerg": 0, "alert": 1, "crit": 2, "error": 3, "warn": 4, "notice": 5, "info": 6, "debug": 7,
}  # fmt: skip


def parse_apache_error(text: str, ctx: Ctx) -> tuple:
    """One Apache error-log line -> event fields after ``event_id``; ``ParseError`` if not one."""
    m = _RE_ERROR.match(text)
    if m is None:
        raise ParseError(
            "apache error line: expected '[Www Mmm dd hh:mm:ss[.us] yyyy] [[module:]level] "
            f"[pid N] [client ADDR] MSG', got {text[:80]!r}"
        )
    mon, d, h, mi, s, frac, y, module, level, pid, client, msg = m.groups()
    mo = MONTHS.get(mon)
    if mo is None:
        raise ParseError(f"apache error time: expected a month like 'Oct', got {mon!r}")
    try:
        stamp = text[1 : m.end(7)]  # the time as the line wrote it
        ts = civil_ms(int(y), mo, int(d), int(h), int(mi), int(s), stamp) - ctx.naive_offset_ms
    except ParseError as exc:
        raise ParseError(f"apache error time: {exc}") from None
    if frac:
        ts += int((frac + "00")[:3])
    sev = _LEVELS.get(level, 7 if level.startswith("trace") else None)
    if client:
        addr, sep, port = client.rpartition(":")
        if sep and port.isdigit() and (":" not in addr or addr.startswith("[")):
            client = addr.strip("[]")
    pid_int = int(pid) if pid and len(pid) < 10 else None
    return (ts, client or ctx.host, _SRC_ERROR, "log", None, client, module or "apache", pid_int,
            sev, level, None, None, msg, None)  # fmt: skip
