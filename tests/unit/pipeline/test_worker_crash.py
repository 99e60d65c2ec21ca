"""A worker whose scoring loop failed crashes, stops and exits 70 by its own shutdown.

mode's ``Service.crash`` calls ``_crash(reason)`` on every service of the app; a
``ScoringService._crash`` of another signature made that raise TypeError, so the crash stopped
nothing and the worker idled until its 30 s backstop ended it (the full-disk test in
tests/integration/test_faults.py checks the whole path on a real broker)."""

from __future__ import annotations

import inspect

import mode

from streams.pipeline.worker import ScoringService


def test_the_scoring_service_keeps_modes_crash_hook():
    assert ScoringService._crash is mode.Service._crash
    assert list(inspect.signature(ScoringService._crash).parameters) == ["self", "reason"]
