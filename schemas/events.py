"""The normalised event: what every parser produces and every transform consumes.

Parsers (raw log lines, activity JSON, Arrow batches, files) all emit this one shape, so the
offline (files) and online (streams) paths share everything downstream. Columnar form is the
Arrow schema :data:`EVENT_SCHEMA`; one column per field of :class:`Event`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pyarrow as pa

__all__ = ["ACTIVITY_TYPES", "EVENT_SCHEMA", "ActivityType", "Event", "SourceFormat"]


class SourceFormat(StrEnum):
    """Where a normalised event came from."""

    ACTIVITY = "activity"
    SYSLOG_3164 = "syslog3164"
    SYSLOG_5424 = "syslog5424"
    DPKG = "dpkg"
    APT_HISTORY = "apt_history"
    ACCESS_LOG = "access_log"
    APACHE_ERROR = "apache_error"
    LOGSTASH = "logstash"


class ActivityType(StrEnum):
    """The closed (but extensible: add a member) set of user activity event types."""

    LOGIN = "login"
    SESSION_END = "session_end"
    VIEW = "view"
    LIKE = "like"
    MESSAGE = "message"
    PURCHASE = "purchase"
    PAYMENT_FAILED = "payment_failed"
    SUPPORT_TICKET = "support_ticket"
    PLAN_CHANGE = "plan_change"
    OFFER_SHOWN = "offer_shown"
    OFFER_ACCEPTED = "offer_accepted"
    OFFER_DECLINED = "offer_declined"


ACTIVITY_TYPES: tuple[str, ...] = tuple(t.value for t in ActivityType)


@dataclass(frozen=True, slots=True)
class Event:
    """One normalised event. Times are UTC epoch milliseconds; absent fields are ``None``.

    ``event_type`` is an :class:`ActivityType` value for activity, and ``"log"`` for machine
    logs. ``entity`` is the user id when there is one, else the host. ``properties`` holds the
    activity event's optional properties as a compact JSON object string.
    """

    event_id: str
    ts_ms: int
    entity: str
    source: str
    event_type: str
    user_id: str | None = None
    host: str | None = None
    program: str | None = None
    pid: int | None = None
    severity: int | None = None
    action: str | None = None
    package: str | None = None
    version: str | None = None
    message: str | None = None
    properties: str | None = None


EVENT_SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("ts_ms", pa.int64(), nullable=False),
        pa.field("entity", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("user_id", pa.string()),
        pa.field("host", pa.string()),
        pa.field("program", pa.string()),
        pa.field("pid", pa.int32()),
        pa.field("severity", pa.int8()),
        pa.field("action", pa.string()),
        pa.field("package", pa.string()),
        pa.field("version", pa.string()),
        pa.field("message", pa.string()),
        pa.field("properties", pa.string()),
    ]
)
"""Arrow schema of a batch of :class:`Event` (same names, same order)."""
