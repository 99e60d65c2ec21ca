"""``streamscore worker``: run a Faust worker of the scoring pipeline."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

from streams.cli._args import comma_list, positive_int
from streams.cli._models_common import TASKS
from streams.settings import Settings

ROLES = ("activity", "logs")
"""The worker roles (``streams.pipeline.worker.INPUT_ROLES``; a test pins the two together)."""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "worker",
        help="run a Faust worker that scores the input topics",
        description="Starts a Faust worker (the same app as `faust -A streams.app worker`). "
        "Workers started with the same --roles and --models share the input partitions as one "
        "consumer group; a different --models subset forms its own group, so one model can run "
        "on its own workers. Every worker follows the model-events topic and hot-swaps to a new "
        "champion between batches; with STREAMSCORE_RETRAIN_INTERVAL_S > 0 the group's leader "
        "also retrains from the feature and outcome streams, gates and publishes challengers, "
        "and exports feature/score drift. --processes N starts N worker processes in the same "
        "group (one per core is the usual choice); worker i serves /metrics on "
        "STREAMSCORE_WEB_PORT + i.",
    )
    parser.add_argument(
        "--roles",
        type=comma_list(ROLES),
        default="activity,logs",
        help="input roles to consume: activity, logs (default both)",
    )
    parser.add_argument(
        "--models",
        type=comma_list(TASKS),
        default=None,
        help="comma-separated model names to score with (default: every champion in the registry)",
    )
    parser.add_argument(
        "--processes",
        type=positive_int,
        default=1,
        help="worker processes to start in the same consumer group (default 1)",
    )
    parser.add_argument(
        "-l", "--loglevel", default="warn", choices=("crit", "error", "warn", "info", "debug")
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.processes > 1:
        return _run_many(args.processes, settings)
    from faust.worker import Worker

    from streams.kafka import resolve_bootstrap
    from streams.kafka.clients import check_credentials
    from streams.pipeline.worker import create_app

    # Faust's clients retry refused credentials forever; fail at start, naming the setting.
    check_credentials(resolve_bootstrap(settings), settings)
    app = create_app(settings, roles=args.roles, models=args.models)
    Worker(app, loglevel=args.loglevel).execute_from_commandline()
    return 0


def _run_many(n: int, settings: Settings) -> int:
    """Start ``n`` single-process workers with this command's arguments and wait for them.

    SIGINT/SIGTERM are passed on; when one worker exits with an error the others are stopped
    and its exit code is returned (so a supervisor restarts the whole set).
    """
    argv = _without_processes(sys.argv[1:])
    children = []
    for i in range(n):
        env = dict(os.environ)
        if settings.web_port:
            env["STREAMSCORE_WEB_PORT"] = str(settings.web_port + i)
        children.append(subprocess.Popen([sys.executable, "-m", "streams.cli", *argv], env=env))

    def forward(signum: int, frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    code = 0
    while any(c.poll() is None for c in children):
        for child in children:
            rc = child.poll()
            if rc not in (None, 0) and code == 0:
                code = rc
                print(
                    f"streamscore: error: worker process {child.pid} exited with {rc}; "
                    "stopping the others",
                    file=sys.stderr,
                )
                forward(signal.SIGTERM, None)
        time.sleep(0.2)
    return code or max((c.returncode or 0) for c in children)


def _without_processes(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--processes":
            skip = True
        elif not arg.startswith("--processes="):
            out.append(arg)
    return out
