"""The web token, for every web server streamscore runs: the GUI's and each worker's.

With ``STREAMSCORE_WEB_TOKEN`` set, every route but ``/healthz`` needs it, as
``Authorization: Bearer TOKEN`` or ``?token=TOKEN``; otherwise 401. ``/healthz`` is answered by
the middleware itself (:func:`token_middleware`), so every server has it.
:func:`worker_web_options` applies the same to a worker's Faust web server (``/metrics`` and
Faust's own views) and turns off Faust's ``/table/...`` and ``/router/...`` views, which
streamscore does not use and which would hand out raw window-state bytes and the cluster's
worker addresses. The token never appears in a log line: :class:`RedactedAccessLogger` logs
request paths without their query.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from streams.settings import Settings

__all__ = [
    "HEALTH_PATH",
    "RedactedAccessLogger",
    "token_matches",
    "token_middleware",
    "worker_web_options",
]

HEALTH_PATH = "/healthz"
"""The one route that answers without the token (liveness probes carry no secrets)."""

_REFUSED = "401: this server needs the web token (?token=... or 'Authorization: Bearer ...')\n"


def token_matches(
    expected: str | None, headers: Mapping[str, str], query: Mapping[str, str]
) -> bool:
    """Whether a request carries ``expected`` (bearer header or ``?token=``), compared in
    constant time; always true when ``expected`` is None (no token configured)."""
    if expected is None:
        return True
    given = query.get("token") or ""
    auth = headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        given = auth[len("Bearer ") :]
    return hmac.compare_digest(given.encode(), expected.encode())


def token_middleware(expected: str | None) -> Any:
    """An aiohttp middleware that answers :data:`HEALTH_PATH` itself (``ok``, no token) and
    401 to any other request that does not carry ``expected`` (all pass when it is None)."""

    @web.middleware
    async def require_token(request: web.Request, handler):
        if request.path == HEALTH_PATH:
            return web.Response(text="ok\n")
        if expected is None or token_matches(expected, request.headers, request.query):
            return await handler(request)
        return web.Response(status=401, text=_REFUSED)

    return require_token


class RedactedAccessLogger(AbstractAccessLogger):
    """aiohttp access log lines with the path only: a ``?token=`` never reaches a log."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %s %.3fs",
            request.remote,
            request.method,
            request.path,
            response.status,
            time,
        )


def worker_web_options(settings: Settings) -> dict[str, Any]:
    """Settings for a worker's ``faust.App(...)`` that lock its web server like the GUI (see
    the module docstring). They must be given when the app is built: Faust reads them when it
    creates its web server, which the first ``app.page`` does."""
    token = settings.web_token.get_secret_value() if settings.web_token else None
    return {
        "web_tables_enabled": False,
        "web_router_enabled": False,
        "web_application_options": {"middlewares": [token_middleware(token)]},
    }
