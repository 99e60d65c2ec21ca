"""``streamscore worker``: run a Faust worker of the scoring pipeline."""

from __future__ import annotations

import argparse

from streams.settings import Settings


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
        default="activity,logs",
        help="input roles to consume: activity, logs (default both)",
    )
    parser.add_argument(
        "--models",
        default=None,
        help="comma-separated model names to score with (default: every champion in the registry)",
    )
    parser.add_argument(
        "-l", "--loglevel", default="warn", choices=("crit", "error", "warn", "info", "debug")
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from faust.worker import Worker

    from streams.kafka import resolve_bootstrap
    from streams.kafka.clients import check_credentials
    from streams.pipeline.worker import create_app

    # Faust's clients retry refused credentials forever; fail at start, naming the setting.
    check_credentials(resolve_bootstrap(settings), settings)
    roles = [r.strip() for r in args.roles.split(",") if r.strip()]
    models = [m.strip() for m in args.models.split(",")] if args.models else None
    app = create_app(settings, roles=roles, models=models)
    Worker(app, loglevel=args.loglevel).execute_from_commandline()
    return 0
