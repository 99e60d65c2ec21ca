"""``parse_batch``: payloads in, normalised events + rejections out. The one parsing entry point.

The stream layer calls it per micro-batch of Kafka records, the file readers per chunk of
lines; both get the same events for the same bytes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from streams.etl._sink import Ctx, Retry, Sink, run_lines
from streams.etl.activity import parse_activity_json, parse_activity_payloads
from streams.etl.detect import (
    IPC_MARKER,
    TOPIC_FORMATS,
    alternatives,
    detect_format,
    is_5424_head,
    json_flavour,
    json_value_kind,
    wrong_kind_reason,
)
from streams.etl.dpkg import parse_apt_stanzas, parse_dpkg
from streams.etl.errors import EventValidationError, InputFormatError, ParseError, RecordError
from streams.etl.logstash import parse_logstash
from streams.etl.syslog import parse_3164, parse_5424
from streams.etl.tables import check_table
from streams.etl.types import (
    FileOrigin,
    InputFormat,
    OriginLike,
    ParsedBatch,
    ParseOptions,
    TopicKind,
    TopicOrigin,
)
from streams.etl.web import parse_access, parse_apache_error

__all__ = ["parse_batch", "to_input_format"]

_LINE_PARSERS = {
    InputFormat.SYSLOG_3164: parse_3164,
    InputFormat.SYSLOG_5424: parse_5424,
    InputFormat.DPKG: parse_dpkg,
    InputFormat.ACCESS_LOG: parse_access,
    InputFormat.APACHE_ERROR: parse_apache_error,
}
_LABELS = {
    InputFormat.SYSLOG_3164: "syslog 3164",
    InputFormat.SYSLOG_5424: "syslog 5424",
    InputFormat.DPKG: "dpkg",
    InputFormat.ACCESS_LOG: "access log",
    InputFormat.APACHE_ERROR: "apache error",
}
SYSLOG_3164, SYSLOG_5424 = InputFormat.SYSLOG_3164, InputFormat.SYSLOG_5424
_DEFAULT_OPTIONS = ParseOptions()
_SUPPORTED = "syslog 3164/5424, dpkg, apt history, access log, apache error, JSON, Arrow IPC"


def to_input_format(fmt: InputFormat | str) -> InputFormat:
    """``fmt`` as an :class:`InputFormat`; ``InputFormatError`` naming the choices if unknown."""
    return _member(InputFormat, fmt, "input format")


def _member(enum: type, value: object, what: str):
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(m.value for m in enum)
        raise InputFormatError(f"{what}: expected one of {choices}, got {value!r}") from None


def _json_not_an_object(kind: str, text: str) -> ParseError:
    return ParseError(f"JSON payload: expected an object (an activity event or a Logstash "
                      f"document), got {kind}: {text[:80]!r}")  # fmt: skip


def _second_chance(guessed: InputFormat) -> Retry:
    """What happens to a payload the parser of its detected format refused: JSON that is not
    an object is named as such; other formats its start fits are tried; the reason names every
    format tried and why each refused."""

    def retry(text: str, exc: RecordError, ctx: Ctx) -> tuple:
        if not isinstance(exc, ParseError):
            raise exc  # the format matched; a field is wrong
        kind = json_value_kind(text)
        if kind is not None:
            raise _json_not_an_object(kind, text)
        tried: list[tuple[InputFormat, RecordError]] = [(guessed, exc)]
        for alt in alternatives(text, guessed):
            try:
                return _LINE_PARSERS[alt](text, ctx)
            except EventValidationError:
                raise  # it is that format, with a bad field: that is the reason
            except RecordError as alt_exc:
                tried.append((alt, alt_exc))
        if len(tried) == 1:
            raise exc
        raise ParseError("payload: not a line of any format its start fits; tried " + "; ".join(
            f"{_LABELS[k]} ({e})" for k, e in tried))  # fmt: skip

    return retry


def _ctx(options: ParseOptions) -> Ctx:
    ref_ms = options.reference_ms
    if ref_ms is None:
        ref_ms = int(time.time() * 1000)
    year = datetime.fromtimestamp(ref_ms / 1000, UTC).year
    offset_ms = options.naive_utc_offset_min * 60_000
    return Ctx(options.default_host, ref_ms, year, offset_ms, default_host=options.default_host)


def _parse_ipc(items: Sequence[tuple[int, bytes]], sink: Sink) -> None:
    for i, raw in items:
        what = "activity Arrow IPC payload"
        try:
            table = pa.ipc.open_stream(pa.py_buffer(raw)).read_all()
        except (pa.ArrowException, OSError, ValueError) as exc:
            sink.reject(
                i,
                ParseError(
                    f"{what}: expected an Arrow IPC stream, got {len(raw)} bytes that do not "
                    f"read as one ({str(exc)[:160]})"
                ),
            )
            continue
        n = table.num_rows
        check = check_table(table)
        if check.table_error:
            sink.reject(i, EventValidationError(f"{what}: {check.table_error}"))
        elif check.bad:
            row, reason = check.bad[0]
            more = f"; {len(check.bad) - 1} more rows invalid" if len(check.bad) > 1 else ""
            sink.reject(i, EventValidationError(f"{what} row {row} of {n}: {reason}{more}"))
        elif n == 0:
            sink.reject(i, EventValidationError(f"{what}: expected at least one row, got 0"))
        else:
            sink.add_batch(check.events, np.full(n, i, np.int32))


def _as_bytes(payloads: Sequence[bytes]) -> tuple[Sequence[bytes], list[tuple[int, str]]]:
    """Payloads as ``bytes`` (bytearray/memoryview copied), and those that are not bytes-like:
    a Kafka tombstone (``None``) or a wrong type becomes a rejection with empty ``raw``."""
    if set(map(type, payloads)) <= {bytes}:
        return payloads, []
    out: list[bytes] = []
    bad: list[tuple[int, str]] = []
    for i, p in enumerate(payloads):
        if isinstance(p, bytes | bytearray | memoryview):
            out.append(bytes(p))
        else:
            out.append(b"")
            bad.append((i, "None (a tombstone record)" if p is None else type(p).__name__))
    return out, bad


def _all_activity_json(payloads: Sequence[bytes], fmt: InputFormat, limit: int) -> bool:
    """Whether every payload takes the activity JSON route of :func:`parse_batch`'s loop
    (within the size limit; with ``auto``, starts with ``{`` and cannot be Logstash: no ``"@``
    anywhere), found with a few C passes instead of the per-payload loop."""
    if fmt not in (InputFormat.ACTIVITY, InputFormat.AUTO) or not payloads:
        return False
    n = len(payloads)
    lengths = np.fromiter(map(len, payloads), dtype=np.int64, count=n)
    if lengths.max() > limit or (fmt is InputFormat.AUTO and lengths.min() == 0):
        return False
    if fmt is InputFormat.ACTIVITY:
        return True
    joined = b"".join(payloads)
    if b'"@' in joined:  # maybe a Logstash document: the loop looks closer
        return False
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return bool((np.frombuffer(joined, dtype=np.uint8)[starts] == ord("{")).all())


def parse_batch(
    payloads: Sequence[bytes],
    fmt: InputFormat | str,
    origins: OriginLike,
    *,
    options: ParseOptions | None = None,
    hosts: Sequence[str | None] | None = None,
    kind: TopicKind | str = TopicKind.ANY,
) -> ParsedBatch:
    """Parse and validate a batch of payloads into normalised events.

    ``payloads`` are raw record values or file lines without their line terminator (an apt
    history payload is a whole stanza). ``fmt`` names their format, or ``"auto"`` to detect
    each payload's on its own. ``origins`` says where they came from (one per payload, or the
    first of a contiguous run). ``hosts`` optionally gives each payload's host as the caller
    knows it (the raw-logs record key): it is the host and entity of lines that name none
    (dpkg, apt, 5424 with ``-``), where ``options.default_host`` is used otherwise. ``kind``
    is what the payloads' topic takes (:class:`~streams.etl.types.TopicKind`): a payload
    detected as another kind (a dpkg line on the activity topic, activity JSON on raw-logs) is
    rejected with a reason that names what the topic takes. Every payload yields at least one
    event or exactly one :class:`~streams.etl.types.Rejected`; nothing raises for bad input.
    Raises ``InputFormatError`` only for caller errors: an unknown ``fmt`` or ``kind``, a
    ``fmt`` the ``kind`` does not take, or ``origins``/``hosts`` lists of the wrong length.

    With ``"auto"``, a payload that the parser of its detected format refuses is tried as the
    other formats its start fits, and its reason names every format tried.
    """
    fmt = to_input_format(fmt)
    kind = _to_topic_kind(kind)
    if fmt not in TOPIC_FORMATS[kind]:
        raise InputFormatError(
            f"parse_batch: {'an' if kind is TopicKind.ACTIVITY else 'a'} {kind.value} topic takes "
            f"{sorted(f.value for f in TOPIC_FORMATS[kind])}, got format {fmt.value!r}"
        )
    opts = options or _DEFAULT_OPTIONS
    ctx = _ctx(opts)
    payloads, not_bytes = _as_bytes(payloads)
    if hosts is not None and len(hosts) != len(payloads):
        raise InputFormatError(
            f"parse_batch hosts: expected one per payload ({len(payloads)}), got {len(hosts)}"
        )
    if not isinstance(origins, FileOrigin | TopicOrigin) and (
        isinstance(origins, str | bytes) or len(origins) != len(payloads)
    ):
        raise InputFormatError(
            "parse_batch origins: expected a FileOrigin/TopicOrigin or one per payload "
            f"({len(payloads)}), got {type(origins).__name__} of length {len(origins)}"
        )
    sink = Sink(payloads, origins, hosts)
    for i, what in not_bytes:
        sink.reject(i, ParseError(f"payload: expected bytes, got {what}"))
    limit = opts.max_payload_bytes
    stanza_limit = opts.max_stanza_bytes
    # The fast path is activity JSON only: a logs topic must turn it into dead letters.
    if not not_bytes and kind is not TopicKind.LOGS and _all_activity_json(payloads, fmt, limit):
        parse_activity_payloads(range(len(payloads)), payloads, sink)
        return sink.finish()
    groups: dict[InputFormat, list] = {}
    single = None if fmt in (InputFormat.AUTO, InputFormat.SYSLOG) else groups.setdefault(fmt, [])
    skip = {i for i, _ in not_bytes}
    # Enum comparisons hoisted out of the loop: this loop runs once per payload.
    is_arrow, is_auto = fmt is InputFormat.ARROW, fmt is InputFormat.AUTO
    is_activity, is_syslog = fmt is InputFormat.ACTIVITY, fmt is InputFormat.SYSLOG
    single_append = single.append if single is not None else None
    activity: list = groups.setdefault(InputFormat.ACTIVITY, []) if is_auto else []
    logstash: list = groups.setdefault(InputFormat.LOGSTASH, []) if is_auto else []
    # What the topic takes, checked only where a payload's format was detected (AUTO).
    only_activity = is_auto and kind is TopicKind.ACTIVITY
    only_logs = is_auto and kind is TopicKind.LOGS
    for i, raw in enumerate(payloads):
        if skip and i in skip:
            continue
        b0 = raw[:1]  # one slice, not a startswith() call per test: this runs for every line
        ipc = b0 == b"\xff" and raw.startswith(IPC_MARKER)
        if only_logs and ipc:
            sink.reject(i, ParseError(wrong_kind_reason(kind, InputFormat.ARROW, raw)))
            continue
        if only_activity and not (b0 == b"{" or ipc):
            sink.reject(i, ParseError(wrong_kind_reason(kind, _detect_bytes(raw), raw)))
            continue
        if is_arrow or (is_auto and ipc):
            if len(raw) > opts.max_ipc_bytes:
                sink.reject(i, ParseError(f"payload: expected at most {opts.max_ipc_bytes} bytes "
                                          f"of Arrow IPC, got {len(raw)}"))  # fmt: skip
            else:
                groups.setdefault(InputFormat.ARROW, []).append((i, raw))
            continue
        if len(raw) > limit and not (len(raw) <= stanza_limit and raw[:11] == b"Start-Date:"):
            sink.reject(i, ParseError(f"payload: expected at most {limit} bytes, got {len(raw)}"))
            continue
        if is_activity:  # orjson takes bytes and checks UTF-8 itself
            single_append((i, raw))  # type: ignore[misc]
            continue
        if is_auto and b0 == b"{":  # JSON: keep bytes for orjson, no decode here
            # No '"@' at all (the common case) cannot be a Logstash document: skip the call.
            is_doc = raw.find(b'"@', 0, 4096) >= 0 and json_flavour(raw) is InputFormat.LOGSTASH
            if (only_activity and is_doc) or (only_logs and not is_doc):
                found = InputFormat.LOGSTASH if is_doc else InputFormat.ACTIVITY
                sink.reject(i, ParseError(wrong_kind_reason(kind, found, raw)))
                continue
            (logstash if is_doc else activity).append((i, raw))
            continue
        try:
            text = raw.decode()
        except UnicodeDecodeError as exc:
            bad = raw[exc.start]
            sink.reject(i, ParseError(f"payload: expected UTF-8 text, got byte 0x{bad:02x} at "
                                      f"offset {exc.start} that is not valid UTF-8"))  # fmt: skip
            continue
        if text[-1:] in "\r\n":  # a producer's line terminator is not content
            text = text.rstrip("\r\n")
        if text[:1] == "<" and single_append is None:  # most lines of a log file: syslog
            # detect_format's test inlined (not blank; is_5424_head's cheap refusal first)
            end = text.find(">", 2, 5)
            found = SYSLOG_5424 if (end > 0 and text[end + 1 : end + 2].isdecimal()
                                    and is_5424_head(text)) else SYSLOG_3164  # fmt: skip
        else:
            if not text or text.isspace():
                sink.reject(i, ParseError("payload: expected a log line or JSON document, got "
                                          "an empty or blank line"))  # fmt: skip
                continue
            if single_append is not None:
                single_append((i, text))
                continue
            found = SYSLOG_3164 if is_syslog else detect_format(text)
        if found is None:
            if only_logs:
                sink.reject(i, ParseError(wrong_kind_reason(kind, None, raw)))
                continue
            json_kind = json_value_kind(text)
            sink.reject(i, _json_not_an_object(json_kind, text) if json_kind is not None else
                        ParseError(f"payload: expected a line in a supported format "
                                   f"({_SUPPORTED}), got {text[:80]!r}"))  # fmt: skip
            continue
        group = groups.get(found)
        if group is None:
            group = groups[found] = []
        group.append((i, text))
    for found, items in groups.items():
        if not items:
            continue
        line_parser = _LINE_PARSERS.get(found)
        if line_parser is not None:
            run_lines(line_parser, items, sink, ctx, _second_chance(found) if is_auto else None)
        elif found is InputFormat.ACTIVITY:
            parse_activity_json(items, sink)
        elif found is InputFormat.LOGSTASH:
            parse_logstash(items, sink, ctx)
        elif found is InputFormat.APT_HISTORY:
            parse_apt_stanzas(items, sink, ctx)
        elif found is InputFormat.ARROW:
            _parse_ipc(items, sink)
    return sink.finish()


def _to_topic_kind(kind: TopicKind | str) -> TopicKind:
    return _member(TopicKind, kind, "topic kind")


def _detect_bytes(raw: bytes) -> InputFormat | None:
    """The format a payload looks like (for a rejection's reason), without failing on bytes
    that are not UTF-8."""
    text = raw[:4096].decode("utf-8", "replace").rstrip("\r\n")
    return detect_format(text) if text.strip() else None
