"""The ``streamscore`` command line.

Each sub-command lives in its own module of this package and exposes
``register(subparsers) -> None``, which adds its parser and sets ``func`` (called with the parsed
arguments and the settings, returning an exit code). Add a module to :data:`COMMAND_MODULES` to
make it appear.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from streams.errors import StreamscoreError
from streams.settings import load_settings

__all__ = ["build_parser", "main"]

COMMAND_MODULES: tuple[str, ...] = (
    "streams.cli.kafka_cmd",
    "streams.cli.topics_cmd",
    "streams.cli.demo_cmd",
    "streams.cli.etl_cmd",
    "streams.cli.score_cmd",
    "streams.cli.simulate_cmd",
    "streams.cli.train_cmd",
    "streams.cli.evaluate_cmd",
    "streams.cli.tune_cmd",
    "streams.cli.models_cmd",
    "streams.cli.worker_cmd",
    "streams.cli.produce_cmd",
    "streams.cli.consume_cmd",
    "streams.cli.dlq_cmd",
    "streams.cli.gui_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamscore",
        description="Streaming ETL and online scoring on Apache Kafka.",
    )
    parser.add_argument(
        "--state-dir",
        help="state directory for broker data, models, logs and caches "
        "(default ./var, env STREAMSCORE_STATE_DIR)",
    )
    parser.add_argument(
        "--bootstrap-servers",
        help="use this Kafka cluster instead of the local broker (env KAFKA_BOOTSTRAP_SERVERS)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(
            state_dir=args.state_dir, kafka_bootstrap_servers=args.bootstrap_servers
        )
        return int(args.func(args, settings) or 0)
    except StreamscoreError as exc:
        print(f"streamscore: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
