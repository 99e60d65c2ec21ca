"""``streamscore demo``: the main job, from nothing to live scores on a real Kafka broker."""

from __future__ import annotations

import argparse

from streams.cli._args import positive_float, positive_int
from streams.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo",
        help="the whole loop: Kafka, topics, models, workers, live events and scores",
        description="Starts the local broker (unless KAFKA_BOOTSTRAP_SERVERS is set), creates "
        "the topics, trains churn and upsell models on a simulated population if the registry "
        "has none, starts Faust workers, produces live simulated activity, this machine's own "
        "log files and a few malformed records, and shows scores, throughput and dead letters "
        "live, in the terminal and in the web GUI (`streamscore gui`, whose address it prints). "
        "Stops on Ctrl-C or after --duration; exits non-zero if no score arrived.",
    )
    parser.add_argument(
        "--duration",
        type=positive_float,
        default=None,
        help="seconds of live scoring, counted from the first score or dead letter (the "
        "workers' start-up is not counted; none within 300 s is an error) (default: until "
        "Ctrl-C)",
    )
    parser.add_argument(
        "--rate",
        type=positive_float,
        default=2000.0,
        help="events produced per second (default 2000)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="worker processes in the scoring group, started as `streamscore worker "
        "--processes N` (default 1; one per core uses the machine)",
    )
    parser.add_argument(
        "--no-gui",
        dest="gui",
        action="store_false",
        help="do not start the web GUI (default: start it and print its address)",
    )
    parser.add_argument(
        "--users",
        type=positive_int,
        default=3000,
        help="simulated users, for training and live traffic (default 3000)",
    )
    parser.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help="max training epochs of the models the demo trains when the registry has none "
        "(default: `streamscore train`'s, 40 with early stopping)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from streams.demo import DemoOptions, run_demo

    summary = run_demo(
        settings,
        DemoOptions(
            duration_s=args.duration,
            rate=args.rate,
            workers=args.workers,
            users=args.users,
            epochs=args.epochs,
            gui=args.gui,
        ),
    )
    return 0 if summary.scores > 0 and summary.error is None else 1
