"""Per-payload format detection for ``InputFormat.AUTO``: cheap prefix tests, no full parse.

The order matters: JSON first (``{``), Arrow IPC by its continuation marker, then the log
shapes by their first characters. A payload that looks like none is rejected by the caller.

A topic takes only its own kinds (:data:`TOPIC_FORMATS`): what is detected on a topic that does
not take it is rejected with a reason naming what the topic takes (:func:`wrong_kind_reason`).

A guess from the first characters can be wrong: when the guessed parser refuses a payload,
:func:`alternatives` names the other formats its start also fits (a line that starts with a
date: dpkg or rsyslog's RFC 3339 syslog), which the caller tries in turn, and
:func:`json_value_kind` says whether it is JSON that is not an object (an array, a number), so
a dead letter says what the payload was and what was tried.
"""

from __future__ import annotations

import re

import orjson

from streams.etl.types import InputFormat, TopicKind

__all__ = [
    "IPC_MARKER",
    "TOPIC_FORMATS",
    "alternatives",
    "detect_format",
    "is_5424_head",
    "json_flavour",
    "json_value_kind",
    "syslog_flavour",
    "topic_kind_of",
    "wrong_kind_reason",
]

IPC_MARKER = b"\xff\xff\xff\xff"
"""First bytes of an Arrow IPC stream message (the continuation token)."""

_RE_5424_HEAD = re.compile(r"<\d{1,3}>\d{1,2} ")
_RE_DPKG_HEAD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")
_RE_ISO_HEAD = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
_RE_DATE_HEAD = re.compile(r"\d{4}-\d\d-\d\d")
_MONTHS = frozenset(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
)


def json_flavour(raw: bytes) -> InputFormat:
    """A JSON object payload: a Logstash document when it has ``@timestamp``/``@version`` in
    its first 4 KiB, else an activity event. Works on bytes, so JSON is never decoded twice."""
    if raw.find(b'"@timestamp"', 0, 4096) >= 0 or raw.find(b'"@version"', 0, 4096) >= 0:
        return InputFormat.LOGSTASH
    return InputFormat.ACTIVITY


def is_5424_head(text: str) -> bool:
    """Whether ``text`` starts ``<PRI>VERSION `` (RFC 5424). Most ``<`` lines are RFC 3164
    (``<PRI>Mmm``): the character after the first ``>`` says so without the regex."""
    end = text.find(">", 2, 5)  # '<' and 1-3 digits: '>' at index 2..4 or it is no 5424 head
    return end > 0 and text[end + 1 : end + 2].isdecimal() and _RE_5424_HEAD.match(text) is not None


def syslog_flavour(text: str) -> InputFormat:
    """RFC 5424 when the line starts ``<PRI>VERSION ``, else RFC 3164."""
    if text[:1] == "<" and is_5424_head(text):
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
        if _RE_DATE_HEAD.match(text):
            return InputFormat.DPKG  # a date, but not a whole dpkg head: see alternatives()
        return InputFormat.ACCESS_LOG
    if text[:3] in _MONTHS and text[3:4] == " ":
        return InputFormat.SYSLOG_3164
    if '] "' in text:
        return InputFormat.ACCESS_LOG  # a client given by host name or IPv6
    return None


_LOG_FORMATS = frozenset(
    {
        InputFormat.SYSLOG,
        InputFormat.SYSLOG_3164,
        InputFormat.SYSLOG_5424,
        InputFormat.DPKG,
        InputFormat.APT_HISTORY,
        InputFormat.ACCESS_LOG,
        InputFormat.APACHE_ERROR,
        InputFormat.LOGSTASH,
    }
)
TOPIC_FORMATS: dict[TopicKind, frozenset[InputFormat]] = {
    TopicKind.ANY: frozenset(InputFormat),
    TopicKind.ACTIVITY: frozenset({InputFormat.AUTO, InputFormat.ACTIVITY, InputFormat.ARROW}),
    TopicKind.LOGS: _LOG_FORMATS | {InputFormat.AUTO},
}
"""The formats a topic of each kind takes (``AUTO``: detect, then check against the rest)."""

_TAKES: dict[TopicKind, str] = {
    TopicKind.ACTIVITY: "activity JSON events or Arrow IPC batches of them",
    TopicKind.LOGS: "log lines (syslog RFC 3164/5424, dpkg, apt history, access log, Apache "
    "error log) or Logstash JSON documents",
}
_WHAT: dict[InputFormat | None, str] = {
    InputFormat.SYSLOG_3164: "a syslog line",
    InputFormat.SYSLOG_5424: "an RFC 5424 syslog line",
    InputFormat.DPKG: "a dpkg.log line",
    InputFormat.APT_HISTORY: "an apt history stanza",
    InputFormat.ACCESS_LOG: "an access log line",
    InputFormat.APACHE_ERROR: "an Apache error log line",
    InputFormat.LOGSTASH: "a Logstash JSON document",
    InputFormat.ACTIVITY: "activity JSON",
    InputFormat.ARROW: "an Arrow IPC payload",
    None: "data in no supported format",
}
_TOPIC_KINDS = {"activity": TopicKind.ACTIVITY, "raw-logs": TopicKind.LOGS}


def topic_kind_of(topic_key: str) -> TopicKind:
    """The kind of the input topic declared as ``topic_key`` (``activity``, ``raw-logs``);
    ``ANY`` for other keys."""
    return _TOPIC_KINDS.get(topic_key, TopicKind.ANY)


def wrong_kind_reason(kind: TopicKind, found: InputFormat | None, raw: bytes) -> str:
    """The dead-letter reason for a payload of format ``found`` (None: unrecognised) on a
    topic of ``kind``, which does not take it: what the topic takes, and what came."""
    head = raw[:60].decode("utf-8", "replace")
    topic = "raw-logs" if kind is TopicKind.LOGS else kind.value
    return f"payload on the {topic} topic: expected {_TAKES[kind]}, got {_WHAT[found]} {head!r}"


def alternatives(text: str, guessed: InputFormat) -> tuple[InputFormat, ...]:
    """Line formats other than ``guessed`` that the start of ``text`` also fits, in the order
    to try them when the ``guessed`` parser refuses it; empty when the start is unambiguous."""
    if text[:1].isdigit() and not _RE_DPKG_HEAD.match(text) and _RE_DATE_HEAD.match(text):
        # A date alone (a truncated line): dpkg's 'YYYY-MM-DD hh:mm:ss' or rsyslog's RFC 3339.
        if guessed is InputFormat.DPKG:
            return (InputFormat.SYSLOG_3164,)
        if guessed is InputFormat.SYSLOG_3164:
            return (InputFormat.DPKG,)
    return ()


_JSON_START = frozenset('[{"-0123456789tfn \t\r\n')
_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "a boolean", dict: "an object after leading whitespace"}  # fmt: skip


def json_value_kind(text: str) -> str | None:
    """What JSON value ``text`` is when it is valid JSON other than an object at its first byte
    (``"an array"``, ``"a number"``, ...); ``None`` when it is not JSON. Only called for
    payloads that were already refused, so parsing it whole costs nothing on good input."""
    if text[:1] not in _JSON_START:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return "null" if value is None else _JSON_KINDS.get(type(value), type(value).__name__)
