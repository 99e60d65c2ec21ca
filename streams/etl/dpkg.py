"""Debian package logs: dpkg.log lines and apt history.log stanzas.

dpkg.log (times are local, taken at ``naive_utc_offset_min``; host is ``default_host``):

- ``T status <state> <pkg> <version>`` -> action ``status:<state>`` (``status:installed``,
  ``status:half-configured``, ...): the status transitions.
- ``T <install|upgrade|remove|purge|configure|trigproc> <pkg> <installed> <available>`` ->
  that action; ``version`` is the available version, or the installed one when the available
  one is ``<none>`` (remove, purge).
- ``T startup <what> <how>`` -> action ``startup``; ``T conffile <file> <decision>`` -> action
  ``conffile``.

``package`` is the name without its ``:arch`` qualifier; ``message`` is the text after the time.

apt history.log: one payload is one stanza (``Start-Date`` ... ``End-Date``). It yields one event
per package operation listed in its ``Install``/``Upgrade``/``Downgrade``/``Reinstall``/
``Remove``/``Purge`` lines (action = the lower-case key, ``version`` = the new version,
``properties`` = ``{"from_version": old}`` for up/downgrades, ``{"automatic": true}`` for
automatically installed dependencies), all at Start-Date; ``program`` is the command's name
(``apt-get``), ``message`` the full Commandline. A stanza without package lines yields one event
with action ``transaction``. Event ids are the stanza's id (see ``event_id_of``) plus ``.k``.
``Requested-By`` is a local Unix account, not a product user, so it goes to ``properties`` and
the entity stays the host.
"""

from __future__ import annotations

import re

import orjson

from streams.etl._sink import Ctx, Sink, event_id_of, ts_range_error
from streams.etl._time import SecondCache, civil_ms
from streams.etl.errors import ParseError, RecordError
from streams.etl.types import MAX_TS_MS, MIN_TS_MS

__all__ = ["parse_apt_stanzas", "parse_dpkg"]

_SRC_DPKG = "dpkg"
_SRC_APT = "apt_history"
_RE_DPKG = re.compile(r"(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d) (\S+) (.*)\Z", re.DOTALL)
_PKG_ACTIONS = frozenset({"install", "upgrade", "remove", "purge", "configure", "trigproc"})
_OTHER = frozenset({"startup", "conffile"})
_dpkg_cache = SecondCache()


def _naive_ms(m: re.Match[str], key: str, offset_ms: int, what: str) -> int:
    ms = _dpkg_cache.get(key)
    if ms is None:
        y, mo, d, h, mi, s = (int(x) for x in m.groups()[:6])
        try:
            ms = _dpkg_cache.put(key, civil_ms(y, mo, d, h, mi, s, key))
        except ParseError as exc:
            raise ParseError(f"{what} time: {exc}") from None
    return ms - offset_ms


def _strip_arch(pkg: str) -> str:
    colon = pkg.find(":")
    return pkg if colon < 0 else pkg[:colon]


def parse_dpkg(text: str, ctx: Ctx) -> tuple:
    """One dpkg.log line -> event fields after ``event_id``; ``ParseError`` if it is not one."""
    m = _RE_DPKG.match(text)
    if m is None:
        raise ParseError(f"dpkg line: expected 'YYYY-MM-DD hh:mm:ss WORD ...', got {text[:80]!r}")
    ts = _naive_ms(m, text[:19], ctx.naive_offset_ms, "dpkg")
    word, rest = m.group(7), m.group(8)
    parts = rest.split(" ")
    action = package = version = None
    if word == "status":
        if len(parts) != 3:
            raise ParseError(
                f"dpkg status line: expected '<state> <package> <version>', got {rest!r}"
            )
        action, package, version = "status:" + parts[0], _strip_arch(parts[1]), parts[2]
    elif word in _PKG_ACTIONS:
        if len(parts) != 3:
            raise ParseError(
                f"dpkg {word} line: expected '<package> <installed> <available>', got {rest!r}"
            )
        action, package = word, _strip_arch(parts[0])
        version = parts[2] if parts[2] != "<none>" else parts[1]
        if version == "<none>":
            version = None
    elif word in _OTHER:
        action = word
    else:
        raise ParseError(
            "dpkg line: expected status/install/upgrade/remove/purge/configure/trigproc/"
            f"startup/conffile after the time, got {word[:40]!r}"
        )
    return (ts, ctx.host, _SRC_DPKG, "log", None, ctx.given_host, "dpkg", None, None, action,
            package, version, text[20:], None)  # fmt: skip


_RE_APT_DATE = re.compile(r"(\d{4})-(\d\d)-(\d\d)\s+(\d\d):(\d\d):(\d\d)\Z")
# "[^()]" not "[^)]": a stanza of unclosed "(" must not make the scan quadratic.
_RE_APT_PKG = re.compile(r"([^\s,()]+) \(([^()]*)\)")
_APT_OPS = ("Install", "Upgrade", "Downgrade", "Reinstall", "Remove", "Purge")


def _apt_stanza(text: str, ctx: Ctx) -> list[tuple]:
    fields: dict[str, str] = {}
    for n, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        key, sep, value = line.partition(": ")
        if not sep and line.endswith(":"):
            key, sep, value = line[:-1], ":", ""
        if not sep or not key or " " in key:
            raise ParseError(
                f"apt history stanza line {n}: expected 'Key: value', got {line[:80]!r}"
            )
        fields[key] = value.strip()
    start = fields.get("Start-Date")
    if start is None:
        raise ParseError(
            f"apt history stanza: expected a 'Start-Date: YYYY-MM-DD  hh:mm:ss' line, got keys "
            f"{sorted(fields)[:8]}"
        )
    m = _RE_APT_DATE.match(start)
    if m is None:
        raise ParseError(f"apt history Start-Date: expected 'YYYY-MM-DD  hh:mm:ss', got {start!r}")
    ts = _naive_ms(m, start, ctx.naive_offset_ms, "apt history")
    if not MIN_TS_MS <= ts < MAX_TS_MS:
        raise ts_range_error("apt history Start-Date", ts)
    cmd = fields.get("Commandline")
    program = cmd.split(" ", 1)[0].rsplit("/", 1)[-1] if cmd else "apt"
    extra_base: dict[str, object] = {}
    if "Requested-By" in fields:
        extra_base["requested_by"] = fields["Requested-By"]
    if "Error" in fields:
        extra_base["error"] = fields["Error"]
    rows = []
    for key in _APT_OPS:
        listing = fields.get(key)
        if not listing:
            continue
        action = key.lower()
        for pkg, inner in _RE_APT_PKG.findall(listing):
            versions = [v.strip() for v in inner.split(",")]
            extra = dict(extra_base)
            if "automatic" in versions:
                versions.remove("automatic")
                extra["automatic"] = True
            if len(versions) >= 2:
                extra["from_version"] = versions[0]
            version = versions[-1] if versions else None
            props = orjson.dumps(extra).decode() if extra else None
            rows.append((ts, ctx.host, _SRC_APT, "log", None, ctx.given_host, program, None, None,
                         action, _strip_arch(pkg), version, cmd, props))  # fmt: skip
    if not rows:
        props = orjson.dumps(extra_base).decode() if extra_base else None
        rows.append((ts, ctx.host, _SRC_APT, "log", None, ctx.given_host, program, None, None,
                     "transaction", None, None, cmd, props))  # fmt: skip
    return rows


def parse_apt_stanzas(items: list[tuple[int, str]], sink: Sink, ctx: Ctx) -> None:
    """Parse apt history stanzas (``(payload index, text)``) into ``sink``: >= 1 event each."""
    for i, text in items:
        if sink.hosts is not None:
            ctx.use_host(sink.hosts[i])
        try:
            rows = _apt_stanza(text, ctx)
        except RecordError as exc:
            sink.reject(i, exc)
            continue
        base = event_id_of(sink.payloads[i])
        sink.rows += rows
        sink.ids += [f"{base}.{k}" for k in range(len(rows))]
        sink.src += [i] * len(rows)
