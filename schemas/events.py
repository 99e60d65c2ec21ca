"""The normalised event: what every parser produces and every transform consumes.

Parsers (raw log lines, activity JSON, Arrow batches, files) all emit this one shape, so the
offline (files) and online (streams) paths share everything downstream. Columnar form is the
Arrow schema :data:`EVENT_SCHEMA`; one column per field of :class:`Event`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "ACTIVITY_TYPES",
    "ENTITY_KINDS",
    "EVENT_SCHEMA",
    "ActivityType",
    "EntityKind",
    "Event",
    "SourceFormat",
    "entity_kind_codes",
    "parse_entity_kinds",
]


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


class EntityKind(StrEnum):
    """What an event's ``entity`` names: a user (``user_id`` is set: activity, an authenticated
    web user, a Logstash document with a user) or a host (machine logs: the line's host, the
    record key, the default host, or a web client's address). A model declares the kinds it
    scores (:attr:`models.contract.ScoringModel.entity_kinds`)."""

    USER = "user"
    HOST = "host"


ENTITY_KINDS: tuple[EntityKind, ...] = tuple(EntityKind)
"""Every entity kind; :func:`entity_kind_codes` numbers them by their place here."""


def entity_kind_codes(events: pa.RecordBatch | pa.Table) -> np.ndarray:
    """The :class:`EntityKind` of each event as its index in :data:`ENTITY_KINDS` (uint8 [n]),
    from the ``user_id`` column at once (no per-event Python): 0 (user) where it is set,
    1 (host) where it is null."""
    user = pc.is_valid(events.column("user_id"))
    if isinstance(user, pa.ChunkedArray):
        user = user.combine_chunks()
    return (~user.to_numpy(zero_copy_only=False)).astype(np.uint8)


def parse_entity_kinds(values: object, what: str = "entity kinds") -> tuple[EntityKind, ...]:
    """``values`` (a list of kind names, or one comma-separated string) as a sorted tuple of
    distinct :class:`EntityKind`; :class:`ValueError` naming the kinds when one is unknown or
    none is given."""
    if isinstance(values, str):
        values = [v.strip() for v in values.split(",") if v.strip()]
    if not isinstance(values, list | tuple | set | frozenset) or not values:
        raise ValueError(
            f"{what}: expected a non-empty list of {[k.value for k in ENTITY_KINDS]}, "
            f"got {values!r}"
        )
    known = {k.value: k for k in ENTITY_KINDS}
    unknown = [v for v in values if v not in known]
    if unknown:
        raise ValueError(
            f"{what}: expected names among {list(known)}, got {sorted(map(str, unknown))}"
        )
    return tuple(k for k in ENTITY_KINDS if k.value in set(values))
