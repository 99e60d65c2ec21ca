"""``--engine local|spark``, ``--master``, ``--conf`` and ``--partitions`` for offline commands."""

from __future__ import annotations

import argparse

from streams.errors import ConfigError

__all__ = ["add_engine_args", "engine_kwargs"]


def add_engine_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("engine")
    group.add_argument("--engine", choices=("local", "spark"), default="local",
                       help="local: this process (default); spark: Apache Spark tasks "
                       "(pip install 'streamscore[spark]', Java 17+)")  # fmt: skip
    group.add_argument("--master", metavar="URL",
                       help="Spark master (default local[*], or spark-submit's)")  # fmt: skip
    group.add_argument(
        "--conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Spark setting, repeatable (e.g. spark.executor.memory=4g)",
    )
    group.add_argument(
        "--partitions",
        type=int,
        metavar="N",
        help="Spark tasks by entity, each holding its entities' events (default: 2 x default "
        "parallelism; etl and score: also at least one per 128 MiB of input)",
    )


def engine_kwargs(args: argparse.Namespace) -> dict:
    """master/conf/partitions for a Spark job; raises ConfigError for a malformed --conf."""
    conf = {}
    for item in args.conf:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--conf: expected KEY=VALUE, got {item!r}")
        conf[key.strip()] = value
    if args.partitions is not None and args.partitions < 1:
        raise ConfigError(f"--partitions: expected a positive count, got {args.partitions}")
    return {"master": args.master, "conf": conf, "partitions": args.partitions}
