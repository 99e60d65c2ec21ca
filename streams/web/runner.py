"""Run the GUI until interrupted: the feed thread plus the web server on one event loop."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence

from streams.settings import Settings
from streams.web.feed import Feed
from streams.web.live import LiveState
from streams.web.server import make_web_app, serve

__all__ = ["gui_address", "run_gui"]


def gui_address(host: str, port: int, token_required: bool = False) -> str:
    """The address to open in a browser, and how to pass the token when one is set. The
    token itself is never printed: start lines end up in logs and terminal scrollback."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    address = f"http://{shown}:{port}/"
    if token_required:
        address += (
            " (needs the web token: open it with ?token=<STREAMSCORE_WEB_TOKEN> or send "
            "'Authorization: Bearer <token>')"
        )
    return address


def run_gui(
    settings: Settings,
    bootstrap: str,
    host: str,
    port: int,
    metrics_urls: Sequence[str] = (),
    on_ready=None,
) -> None:
    """Serve the GUI on ``host:port`` until SIGINT/SIGTERM."""
    state = LiveState()
    feed = Feed(settings, bootstrap, state, metrics_urls).start()
    token = settings.web_token.get_secret_value() if settings.web_token else None
    title = f"streamscore · {settings.topic_prefix.rstrip('.') or 'default'}"
    app = make_web_app(state, token=token, title=title)

    async def main() -> None:
        runner = await serve(app, host, port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if on_ready is not None:
            on_ready(gui_address(host, port, token is not None))
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(main())
    finally:
        feed.stop()
