"""Per-payload format detection for ``InputFormat.AUTO``: cheap prefix tests, no full parse.

The order matters: JSON first (``{``), Arrow IPC by its continuation marker, then the log
shapes by their first characters. A payload that looks like none is rejected by the caller.
"""

from __future__ import annotations

import re

from streams.etl.types import InputFormat

__all__ = ["IPC_MARKER", "detect_format", "json_flavour", "syslog_flavour"]

IPC_MARKER = b"\xff\xff\xff\xff"
"""First bytes of an Arrow IPC stream message (the continuation token)."""

_RE_5424_HEAD = re.compile(r"<\d{1,3}>\d{1,2} ")
_RE_DPKG_HEAD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")
_RE_ISO_HEAD = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
_MONTHS = frozenset(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
)


def json_flavour(raw: bytes) -> InputFormat:
    """A JSON object payload: a Logstash document when it has ``@timestamp``/``@version`` in
    its first 4 KiB, else an activity event. Works on bytes, so JSON is never decoded twice."""
    if raw.find(b'"@timestamp"', 0, 4096) >= 0 or raw.find(b'"@version"', 0, 4096) >= 0:
        return InputFormat.LOGSTASH
    return InputFormat.ACTIVITY


def syslog_flavour(text: str) -> InputFormat:
    """RFC 5424 when the line starts ``<PRI>VERSION ``, else RFC 3164."""
    if text[:1] == "<" and _RE_5424_HEAD.match(text):
        return InputFormat.SYSLOG_5424
    return InputFormat.SYSLOG_3164


def detect_format(text: str) -> InputFormat | None:
    """Guess the format of one decoded, non-empty payload; ``None`` when nothing fits."""
    c = text[0]
    if c == "{":
        return json_flavour(text[:4096].encode())
    if c == "<":
        return syslog_flavour(text)
    if c == "[":
        return InputFormat.APACHE_ERROR
    if text.startswith("Start-Date:"):
        return InputFormat.APT_HISTORY
    if c.isdigit():
        if _RE_DPKG_HEAD.match(text):
            return InputFormat.DPKG
        if _RE_ISO_HEAD.match(text):
            return InputFormat.SYSLOG_3164  # rsyslog's RFC 3339 file format
        return InputFormat.ACCESS_LOG
    if text[:3] in _MONTHS and text[3:4] == " ":
        return InputFormat.SYSLOG_3164
    if '] "' in text:
        return InputFormat.ACCESS_LOG  # a client given by host name or IPv6
    return None
