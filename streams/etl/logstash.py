"""Logstash / Elasticsearch JSON documents that carry a log line in ``message``.

The shipped line is parsed too: a dpkg.log line (by ``path`` ending in ``dpkg.log`` or by its
shape), then an RFC 5424 or 3164 syslog line, an access-log or an Apache error line. When it
parses, its time (the event time; ``@timestamp`` is often only the ingest time, as in the
``_grokparsefailure`` samples) and fields are used; otherwise the event has ``@timestamp``
and the message as text. The host is the line's own (a syslog line's HOST, an access log's
client) when it names one; the document's ``host`` (a string, or Beats' ``{"name": ...}``: the
shipper's machine) only fills in for a line that names none (dpkg), before the caller-given
host and the default. ``syslog_severity_code`` fills a missing severity; when the line does not
parse, a grok's ``syslog_hostname`` (first, then the document's ``host``)/``syslog_program``/
``syslog_pid``/``syslog_message`` fill host, program, pid and message. ``path``, ``type``,
``tags`` and the ``syslog_facility``/``syslog_severity`` names go to ``properties``. Source is
always ``logstash``.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from streams.etl._sink import Ctx, Sink, run_lines
from streams.etl._time import parse_rfc3339
from streams.etl.activity import describe_value
from streams.etl.dpkg import parse_dpkg
from streams.etl.errors import EventValidationError, ParseError, RecordError
from streams.etl.syslog import parse_3164, parse_5424
from streams.etl.web import parse_access, parse_apache_error

__all__ = ["parse_logstash"]

_SRC = "logstash"
_PROPERTY_FIELDS = ("path", "type", "tags", "syslog_facility", "syslog_facility_code",
                    "syslog_severity")  # fmt: skip


def _inner_parsers(message: str, path: str | None) -> tuple:
    if (path and path.endswith("dpkg.log")) or (message[:2] == "20" and message[4:5] == "-"):
        return (parse_dpkg,)
    if message[:1] == "<":
        return (parse_5424, parse_3164)
    if message[:1] == "[":
        return (parse_apache_error,)
    return (parse_3164, parse_access)


def _text(doc: dict, key: str) -> str | None:
    value = doc.get(key)
    return value if type(value) is str and value else None


def _host(doc: dict) -> str | None:
    host = doc.get("host")
    if isinstance(host, dict):
        host = host.get("name") or host.get("hostname")
    return host if isinstance(host, str) and host else None


def _logstash_row(text: str | bytes, ctx: Ctx) -> tuple:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ParseError(
            f"logstash document: expected a JSON object, got invalid JSON ({exc})"
        ) from None
    if type(doc) is not dict:
        raise EventValidationError(
            f"logstash document: expected a JSON object, got {describe_value(doc)}"
        )
    message = doc.get("message")
    if type(message) is not str:
        raise EventValidationError(
            f"logstash document field 'message': expected a string, got {describe_value(message)}"
        )
    path = doc.get("path")
    inner: tuple | None = None
    for parse in _inner_parsers(message, path if isinstance(path, str) else None):
        try:
            inner = parse(message, ctx)
            break
        except RecordError:
            continue
    host = _host(doc)
    sev_code = doc.get("syslog_severity_code")
    sev = sev_code if type(sev_code) is int and 0 <= sev_code <= 7 else None
    props = {k: doc[k] for k in _PROPERTY_FIELDS if doc.get(k) is not None}
    props_text = orjson.dumps(props).decode() if props else None
    if inner is None:
        stamp = doc.get("@timestamp")
        if type(stamp) is not str:
            raise EventValidationError(
                "logstash document field '@timestamp': expected an RFC 3339 string, got "
                + describe_value(stamp)
            )
        ts = parse_rfc3339(stamp, 0, "logstash document field '@timestamp'")
        # A grok that did match left its fields: use them when the message itself did not parse.
        h = _text(doc, "syslog_hostname") or host or ctx.given_host or ctx.host
        pid = _text(doc, "syslog_pid")
        pid_int = int(pid) if pid and pid.isdigit() and len(pid) < 10 else None
        msg = _text(doc, "syslog_message") or message
        return (ts, h, _SRC, "log", None, h, _text(doc, "syslog_program"), pid_int, sev, None,
                None, None, msg, props_text)  # fmt: skip
    (ts, _entity, _s, etype, user_id, ihost, program, pid, isev, action, package, version, msg,
     iprops) = inner  # fmt: skip
    h = ihost or host or ctx.given_host or ctx.host  # the line's own host (client, sender) first
    entity = user_id or h
    if iprops and props_text:
        props_text = orjson.dumps({**orjson.loads(iprops), **props}).decode()
    return (ts, entity, _SRC, etype, user_id, h, program, pid, isev if isev is not None else sev,
            action, package, version, msg, props_text or iprops)  # fmt: skip


def parse_logstash(items: Sequence[tuple[int, str | bytes]], sink: Sink, ctx: Ctx) -> None:
    """Parse Logstash documents (``(payload index, text or bytes)``) into ``sink``."""
    run_lines(_logstash_row, items, sink, ctx)
