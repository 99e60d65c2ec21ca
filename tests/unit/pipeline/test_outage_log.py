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

    def record(msg: str, level: int = logging.ERROR) -> logging.LogRecord:
        return logging.LogRecord("aiokafka", level, __file__, 1, msg, None, None)

    passed = [flt.filter(record(f"Unable connect to node with id {i}")) for i in range(200)]
    assert passed.count(True) == 1  # differs only in numbers: the same message
    assert flt.filter(record("another message"))
    assert all(flt.filter(record("debug chatter", logging.DEBUG)) for _ in range(5))
