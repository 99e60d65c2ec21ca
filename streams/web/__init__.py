"""The live web GUI: recent scores, throughput, latency, lag, dead letters, models, drift.

``streamscore gui`` runs it as a companion process next to the workers: :class:`.feed.Feed` reads
the output topics and probes lag, registry and worker metrics into a :class:`LiveState`, and the
aiohttp server (:func:`make_web_app`) pushes a snapshot of it to the page once per second.
"""

from streams.web.live import LiveState
from streams.web.runner import run_gui
from streams.web.server import make_web_app

__all__ = ["LiveState", "make_web_app", "run_gui"]
