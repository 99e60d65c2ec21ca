"""``streamscore gui``: the live web GUI of a deployment (a companion process to the workers)."""

from __future__ import annotations

import argparse

from streams.cli._args import http_url, port
from streams.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "gui",
        help="serve the live web GUI: scores, throughput, latency, lag, dead letters, models",
        description="Reads the scores, dead-letters and model-events topics (read_committed), "
        "the worker consumer groups' lag, the local model registry and, with --metrics, the "
        "workers' Prometheus /metrics (latency, drift), and serves one page that updates live "
        "(server-sent events, about once per second). Binds to 127.0.0.1 unless --host says "
        "otherwise; with STREAMSCORE_WEB_TOKEN set (or --token), every request needs "
        "?token=TOKEN or an 'Authorization: Bearer TOKEN' header (401 otherwise).",
    )
    parser.add_argument(
        "--host", default=None, help="address to bind (default 127.0.0.1, env STREAMSCORE_GUI_HOST)"
    )
    parser.add_argument(
        "--port", type=port, default=None, help="port (default 6067, env STREAMSCORE_GUI_PORT)"
    )
    parser.add_argument(
        "--token", default=None, help="require this token (default env STREAMSCORE_WEB_TOKEN)"
    )
    parser.add_argument(
        "--metrics",
        type=http_url,
        action="append",
        default=None,
        metavar="URL",
        help="a worker's /metrics to scrape for latency and drift; repeat per worker "
        "(default http://127.0.0.1:<STREAMSCORE_WEB_PORT>/metrics; 'none' scrapes nothing)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    import logging

    from pydantic import SecretStr

    from streams.kafka import resolve_bootstrap
    from streams.kafka.clients import check_credentials
    from streams.web import run_gui

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.token:
        settings = settings.model_copy(update={"web_token": SecretStr(args.token)})
    if args.metrics is None:
        urls = [f"http://127.0.0.1:{settings.web_port}/metrics"] if settings.web_port else []
    else:
        urls = [u for u in args.metrics if u != "none"]
    check_credentials(resolve_bootstrap(settings), settings)  # refused: exit 2, not retries
    run_gui(
        settings,
        resolve_bootstrap(settings),
        args.host or settings.gui_host,
        settings.gui_port if args.port is None else args.port,
        urls,
        on_ready=lambda address: print(f"streamscore GUI: {address}", flush=True),
    )
    return 0
