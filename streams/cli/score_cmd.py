"""``streamscore score``: backfill scoring of history in files with the registry's champions."""

from __future__ import annotations

import argparse

from streams.cli._args import input_location, int_in, out_location, positive_int
from streams.cli._engine import add_engine_args, engine_kwargs
from streams.cli.etl_cmd import _FORMATS, _KINDS, _reference_ms, parse_options, print_counts
from streams.settings import Settings

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "score",
        help="score history in files with the registry's champions (backfill)",
        description="Reads files as `streamscore etl` does, featurises every event with the "
        "champions' feature pipeline (each entity's events in time order) and scores it with "
        "each champion (or --version), once per batch. Writes DIR/scores.parquet (the "
        "ScoreBatch columns, one row per event and model), DIR/events.parquet and the "
        "rejected lines. With --engine spark, in Spark tasks (outputs are folders of part "
        "files); every executor must read the registry (STREAMSCORE_STATE_DIR).",
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        type=input_location,
        help="files to read (--engine spark: also folders, globs, URIs)",
    )
    parser.add_argument("--out", required=True, metavar="DIR", type=out_location,
                        help="output directory (created when missing)")  # fmt: skip
    parser.add_argument(
        "--task",
        action="append",
        choices=("churn", "upsell"),
        help="models to score with, repeatable (default: every champion)",
    )
    parser.add_argument(
        "--version",
        metavar="V",
        help="score with this registry version of each task, not the champion",
    )
    parser.add_argument("--format", default="auto", choices=_FORMATS)
    parser.add_argument("--kind", default="auto", choices=_KINDS)
    parser.add_argument("--rejected-format", default="jsonl", choices=("jsonl", "parquet"))
    parser.add_argument("--host", default="localhost",
                        help="host of log lines that name none (dpkg, apt)")  # fmt: skip
    parser.add_argument("--reference-time", metavar="ISO", type=_reference_ms,
                        help="'now' for RFC 3164 years (default: each file's mtime)")  # fmt: skip
    parser.add_argument("--utc-offset-min", type=int_in(-1440, 1440, "minutes"), default=0)
    parser.add_argument("--chunk-size", type=positive_int, default=65_536,
                        help="payloads per batch")  # fmt: skip
    add_engine_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    common = dict(
        tasks=args.task,
        version=args.version,
        fmt=args.format,
        kind=args.kind,
        options=parse_options(args),
        rejected_format=args.rejected_format,
        chunk_size=args.chunk_size,
    )
    if args.engine == "spark":
        from streams.spark.score import run_score_spark

        result = run_score_spark(args.inputs, args.out, settings, **common, **engine_kwargs(args))
    else:
        from streams.pipeline.backfill import run_score

        result = run_score(args.inputs, args.out, settings, **common)
    print_counts(result.etl)
    for name, rows in sorted(result.rows.items()):
        # A model scores the events of the entity kinds it declares (churn, upsell: users).
        left = result.etl.total.events - rows
        print(f"scored {name}: {rows} rows" + (f" ({left} events of other entity kinds: not "
              "scored by design)" if left > 0 else ""))  # fmt: skip
    print(f"wrote scores: {result.outputs['scores']}")
    return 1 if result.etl.total.read and not result.etl.total.parsed else 0
