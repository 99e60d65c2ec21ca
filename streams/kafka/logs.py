"""Logging while Kafka is away: say it once, then how it goes every few seconds.

Every client of a worker (librdkafka's, aiokafka's under Faust) reports each failed connection
attempt, several a second per broker and client. :class:`OutageLog` turns librdkafka's error
callbacks into one line when the outage starts, one every ``every_s`` while it lasts, and one
when it ends; :class:`RepeatFilter` (on the worker's log handlers) lets a message that differs
only in numbers through once per ``every_s`` and counts the rest into the next one.
"""

from __future__ import annotations

import logging
import re
import threading
import time

from confluent_kafka import KafkaError

__all__ = ["OutageLog", "RepeatFilter", "install_repeat_filter"]

_DIGITS = re.compile(r"\d+")

OWN = {"streams", "models", "kernels", "schemas", "__main__"}
"""Our own loggers: the filter leaves them alone (the outage itself is paced by OutageLog)."""

PER_LOGGER = {"aiokafka", "faust", "mode"}
"""Loggers whose WARNING-or-worse messages are limited per logger, not per text."""

UNREACHABLE = {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE}


class RepeatFilter(logging.Filter):
    """Pass a library's WARNING-or-worse message once per ``every_s`` (per logger and text with
    its numbers masked, or per logger for :data:`PER_LOGGER`); the next one that passes says
    how many were held back. Messages of our own loggers (:data:`OWN`) always pass."""

    def __init__(self, every_s: float = 5.0, most: int = 10_000) -> None:
        super().__init__()
        self.every_s = every_s
        self._most = most
        self._seen: dict[tuple, list] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        top = record.name.split(".", 1)[0]
        if record.levelno < logging.WARNING or top in OWN:
            return True  # our own messages say something each time: never held back
        try:
            text = record.getMessage()
        except Exception:
            text = f"{record.msg} {record.args!r}"
            record.msg, record.args = text, ()
        if top in PER_LOGGER:
            # Faust's own clients: every failed connection attempt is another message, each
            # with a traceback; one line per logger and level, then a count, says it all.
            key: tuple = (top, record.levelno)
            record.exc_info = record.exc_text = None
        else:
            key = (record.name, record.levelno, _DIGITS.sub("#", text)[:160])
        now = time.monotonic()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now < seen[0]:
                seen[1] += 1
                return False
            if len(self._seen) >= self._most:
                self._seen.clear()
            held = seen[1] if seen is not None else 0
            self._seen[key] = [now + self.every_s, 0]
        if held:
            # Empty args, not None: mode's formatter would make (None,) of None and fail.
            record.msg = f"{text} ({held} more like this held back)"
            record.args = ()
        return True


def install_repeat_filter(every_s: float = 5.0) -> RepeatFilter:
    """Put one :class:`RepeatFilter` on every handler of the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in root.handlers:
        for f in handler.filters:
            if isinstance(f, RepeatFilter):
                return f
    flt = RepeatFilter(every_s)
    for handler in root.handlers:
        handler.addFilter(flt)
    return flt


class OutageLog:
    """librdkafka ``error_cb`` target: logs when brokers become unreachable, every ``every_s``
    while they stay so, and when they answer again (:meth:`reachable`)."""

    def __init__(self, logger: logging.Logger, what: str, every_s: float = 5.0) -> None:
        self._log = logger
        self._what = what
        self.every_s = every_s
        self._since: float | None = None
        self._next = 0.0
        self._errors = 0
        self._lock = threading.Lock()

    def __call__(self, err: KafkaError) -> None:
        now = time.monotonic()
        with self._lock:
            if err.code() not in UNREACHABLE and not err.fatal():
                self._log.warning("%s: Kafka error: %s", self._what, err)
                return
            self._errors += 1
            if self._since is None:
                self._since = now
                self._next = now + self.every_s
                self._log.error(
                    "%s: Kafka is unreachable (%s); retrying, and saying so every %.0f s",
                    self._what,
                    err.str(),
                    self.every_s,
                )
            elif now >= self._next:
                self._next = now + self.every_s
                self._log.warning(
                    "%s: Kafka still unreachable after %.0f s (%d errors): %s",
                    self._what,
                    now - self._since,
                    self._errors,
                    err.str(),
                )

    def reachable(self) -> None:
        """Kafka answered: end the outage, if there was one."""
        if self._since is None:
            return
        with self._lock:
            if self._since is None:
                return
            self._log.warning(
                "%s: Kafka reachable again after %.1f s", self._what, time.monotonic() - self._since
            )
            self._since = None
            self._errors = 0
