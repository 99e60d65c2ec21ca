"""``streamscore worker``: run a Faust worker of the scoring pipeline."""

from __future__ import annotations

import argparse

from streams.cli._args import comma_list
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
        "and exports feature/score drift.",
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
        "-l", "--loglevel", default="warn", choices=("crit", "error", "warn", "info", "debug")
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from faust.worker import Worker

    from streams.pipeline.worker import create_app

    app = create_app(settings, roles=args.roles, models=args.models)
    Worker(app, loglevel=args.loglevel).execute_from_commandline()
    return 0
