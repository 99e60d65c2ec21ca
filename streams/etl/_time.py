"""Timestamp text -> UTC epoch milliseconds, fast on log-shaped input.

Log lines come in bursts that share a second, so each parser keeps a small cache from the
whole-second part of a timestamp to its epoch ms; calendar arithmetic is done by hand (no
``datetime`` objects) because it runs once per distinct second per batch at worst.
"""

from __future__ import annotations

import re

from streams.etl.errors import ParseError

__all__ = [
    "MONTHS",
    "civil_ms",
    "parse_rfc3339",
]

MONTHS = {
    "Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6,
    "Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12,
}  # fmt: skip
_MONTH_NAMES = tuple(MONTHS)
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_CACHE_LIMIT = 65_536


def _leap(y: int) -> bool:
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def civil_ms(
    y: int,
    mo: int,
    d: int,
    h: int,
    mi: int,
    s: int,
    got: str | None = None,
    *,
    year_in_text: bool = True,
) -> int:
    """UTC epoch ms of a proleptic Gregorian date-time; ``ParseError`` if a field is out of range.

    The error reads ``expected <the field's range>, got <got>``: ``got`` is the time as the
    input wrote it (default: the fields as ``YYYY-MM-DD hh:mm:ss``); callers put
    ``"<format> time: "`` in front. ``year_in_text=False`` (RFC 3164, whose lines carry no
    year) keeps the year ``y`` that the caller inferred out of the message.
    Days-from-civil after H. Hinnant; no ``datetime`` so it is cheap and has no year-1 limit.
    """
    if not (1 <= mo <= 12 and h < 24 and mi < 60 and s < 61):
        raise _field_error(y, mo, d, h, mi, s, got, year_in_text)
    dim = 29 if mo == 2 and _leap(y) else _DAYS_IN_MONTH[mo - 1]
    if not 1 <= d <= dim:
        raise _field_error(y, mo, d, h, mi, s, got, year_in_text)
    s = min(s, 59)  # a leap second is folded onto :59
    yy = y - (mo <= 2)
    era = yy // 400
    yoe = yy - era * 400
    doy = (153 * (mo + (-3 if mo > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return ((days * 24 + h) * 60 + mi) * 60_000 + s * 1000


def _field_error(
    y: int, mo: int, d: int, h: int, mi: int, s: int, got: str | None, year_in_text: bool
) -> ParseError:
    if got is None:
        got = f"{y:04d}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d}"
    if not 1 <= mo <= 12:
        expected = "a month 01..12"
    elif h >= 24:
        expected = "an hour 00..23"
    elif mi >= 60:
        expected = "a minute 00..59"
    elif s >= 61:
        expected = "a second 00..60"
    elif year_in_text:
        dim = 29 if mo == 2 and _leap(y) else _DAYS_IN_MONTH[mo - 1]
        expected = f"a day 01..{dim:02d} in {y:04d}-{mo:02d}"
    else:  # no year in the line: Feb 29 is always possible (the caller picks a leap year)
        dim = 29 if mo == 2 else _DAYS_IN_MONTH[mo - 1]
        expected = f"a day 01..{dim:02d} in {_MONTH_NAMES[mo - 1]}"
    return ParseError(f"expected {expected}, got {got!r}")


class SecondCache(dict[str, int]):
    """A dict from a timestamp's whole-second text to epoch ms, emptied when it grows large."""

    def put(self, key: str, value: int) -> int:
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        self[key] = value
        return value


_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?(Z|z|[+-]\d\d:?\d\d)?\Z"
)
_rfc_cache = SecondCache()


def parse_rfc3339(text: str, naive_offset_ms: int = 0, what: str = "timestamp") -> int:
    """RFC 3339 / ISO 8601 date-time (``2003-10-11T22:14:15.003Z``, offsets, fractions) -> ms.

    A time without zone is shifted by ``naive_offset_ms`` (it is local time at that offset).
    Raises ``ParseError`` naming ``what`` and the text found.
    """
    m = _RFC3339.match(text)
    if m is None:
        raise ParseError(f"{what}: expected an RFC 3339 date-time, got {text[:64]!r}")
    y, mo, d, h, mi, s, frac, zone = m.groups()
    key = text[:19]
    base = _rfc_cache.get(key)
    if base is None:
        try:
            base = _rfc_cache.put(
                key, civil_ms(int(y), int(mo), int(d), int(h), int(mi), int(s), text[:64])
            )
        except ParseError as exc:
            raise ParseError(f"{what}: {exc}") from None
    if frac:
        base += int((frac + "00")[:3])
    if zone is None:
        return base - naive_offset_ms
    if zone in ("Z", "z"):
        return base
    sign = -1 if zone[0] == "-" else 1
    off = (int(zone[1:3]) * 60 + int(zone[-2:])) * 60_000
    return base - sign * off
