"""A broker outage is logged once, then every few seconds, then when it ends."""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError

from streams.kafka.logs import OutageLog, RepeatFilter


def test_outage_is_logged_once_then_every_interval(caplog):
    log = OutageLog(logging.getLogger("test.outage"), "scoring", every_s=3600)
    down = KafkaError(KafkaError._TRANSPORT, "Connection refused")
    with caplog.at_level(logging.INFO, "test.outage"):
        for _ in range(500):
            log(down)
        log.reachable()
        log.reachable()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert "unreachable" in lines[0] and "reachable again" in lines[1]


def test_repeat_filter_passes_one_of_a_kind_and_counts_the_rest():
    flt = RepeatFilter(every_s=3600)

    def record(msg: str, level: int = logging.ERROR, name: str = "somelib") -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, msg, None, None)

    passed = [flt.filter(record(f"Unable connect to node with id {i}")) for i in range(200)]
    assert passed.count(True) == 1  # differs only in numbers: the same message
    assert flt.filter(record("another message"))
    assert all(flt.filter(record("debug chatter", logging.DEBUG)) for _ in range(5))
    # Faust's clients: one line per logger and level, whatever the text.
    chatty = [flt.filter(record(f"error {c}", name="aiokafka.conn")) for c in "abcdef"]
    assert chatty.count(True) == 1


def test_a_bad_format_string_of_a_library_is_shown_not_raised():
    bad = logging.LogRecord("somelib", logging.ERROR, __file__, 1, "no placeholder", (1,), None)
    assert RepeatFilter().filter(bad)
    assert bad.getMessage() == "no placeholder (1,)"


def test_held_back_counts_survive_mode_s_formatter():
    """mode's formatter turns args=None into (None,): a rewritten record must still format."""
    from mode.utils.logging import ExtensionFormatter

    flt = RepeatFilter(every_s=0.0)

    def record() -> logging.LogRecord:
        return logging.LogRecord("somelib", logging.ERROR, __file__, 1, "lost %s", ("x",), None)

    flt.every_s = 3600
    assert flt.filter(record())
    assert not flt.filter(record())  # held back, counted
    flt._seen = {k: [0.0, n] for k, (_, n) in flt._seen.items()}  # the interval is over
    again = record()
    assert flt.filter(again)
    assert "1 more like this held back" in ExtensionFormatter().format(again)


def test_our_own_messages_are_never_held_back():
    flt = RepeatFilter(every_s=3600)
    swap = [
        logging.LogRecord(
            "streams.learning.swap", logging.WARNING, __file__, 1, "hot swap", (), None
        )
        for _ in range(3)
    ]
    assert all(flt.filter(r) for r in swap)
