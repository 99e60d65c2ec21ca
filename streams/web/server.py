"""The GUI's web server (aiohttp): one static page, a JSON snapshot, and a server-sent event
stream that pushes a snapshot about once per second.

Routes: ``/`` (the page), ``/api/snapshot`` (JSON), ``/events`` (``text/event-stream``),
``/healthz``. When a token is set every route but ``/healthz`` needs it, as
``Authorization: Bearer TOKEN`` or ``?token=TOKEN`` (the page passes its own ``?token=`` on to
the event stream); otherwise 401.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from importlib import resources

from aiohttp import web

from streams.web.live import LiveState

__all__ = ["PUSH_INTERVAL_S", "make_web_app", "serve"]

PUSH_INTERVAL_S = 1.0


def _page() -> bytes:
    return resources.files("streams.web").joinpath("index.html").read_bytes()


def make_web_app(state: LiveState, token: str | None = None, title: str = "") -> web.Application:
    """The aiohttp application serving ``state`` (see the module docstring)."""

    @web.middleware
    async def require_token(request: web.Request, handler):  # noqa: ANN001, ANN202
        if token is None or request.path == "/healthz":
            return await handler(request)
        given = request.query.get("token", "")
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            given = auth[len("Bearer ") :]
        if not hmac.compare_digest(given.encode(), token.encode()):
            return web.Response(
                status=401, text="401: this GUI needs its token (?token=... or a bearer token)\n"
            )
        return await handler(request)

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

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    app = web.Application(middlewares=[require_token])
    app.router.add_get("/", index)
    app.router.add_get("/api/snapshot", snapshot)
    app.router.add_get("/events", events)
    app.router.add_get("/healthz", healthz)
    return app


def _dumps(value: object) -> str:
    return json.dumps(value, default=str, allow_nan=False, separators=(",", ":"))


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Start serving ``app`` on ``host:port``; the caller cleans the returned runner up."""
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
