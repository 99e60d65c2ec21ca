"""The GUI's web server (aiohttp): one static page, a JSON snapshot, and a server-sent event
stream that pushes a snapshot about once per second.

Routes: ``/`` (the page), ``/api/snapshot`` (JSON), ``/events`` (``text/event-stream``),
``/healthz``. When a token is set every route but ``/healthz`` needs it, as
``Authorization: Bearer TOKEN`` or ``?token=TOKEN`` (the page passes its own ``?token=`` on to
the event stream); otherwise 401 (:mod:`streams.web.auth`). Access log lines name the path
without its query, so the token is never logged.
"""

from __future__ import annotations

import asyncio
from importlib import resources

import orjson
from aiohttp import web

from streams.web.auth import RedactedAccessLogger, token_middleware
from streams.web.live import LiveState

__all__ = ["PUSH_INTERVAL_S", "make_web_app", "serve"]

PUSH_INTERVAL_S = 1.0


def _page() -> bytes:
    return resources.files("streams.web").joinpath("index.html").read_bytes()


def make_web_app(state: LiveState, token: str | None = None, title: str = "") -> web.Application:
    """The aiohttp application serving ``state`` (see the module docstring)."""

    page = _page().replace(b"{{title}}", (title or "streamscore").encode())

    async def index(request: web.Request) -> web.Response:
        return web.Response(body=page, content_type="text/html", charset="utf-8")

    async def snapshot(request: web.Request) -> web.Response:
        return web.json_response(state.snapshot(), dumps=_dumps)

    async def events(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        try:
            while True:
                data = _dumps(state.snapshot())
                await response.write(f"data: {data}\n\n".encode())
                await asyncio.sleep(PUSH_INTERVAL_S)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response

    app = web.Application(middlewares=[token_middleware(token)])
    app.router.add_get("/", index)
    app.router.add_get("/api/snapshot", snapshot)
    app.router.add_get("/events", events)
    return app


def _dumps(value: object) -> str:
    """Strict JSON for the page: a non-finite number from any source (a model event's NaN
    metric, a scraped metric, a score) is ``null``, NumPy values are plain, others ``str``."""
    return orjson.dumps(
        value, default=str, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    ).decode()


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Start serving ``app`` on ``host:port``; the caller cleans the returned runner up."""
    runner = web.AppRunner(app, shutdown_timeout=2.0, access_log_class=RedactedAccessLogger)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
