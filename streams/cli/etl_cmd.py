"""``streamscore etl``: files in; normalised events, feature vectors and rejected lines out."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from streams.cli._engine import add_engine_args, engine_kwargs
from streams.settings import Settings

_FORMATS = ("auto", "syslog", "syslog3164", "syslog5424", "dpkg", "apt_history", "access_log",
            "apache_error", "logstash", "activity", "arrow")  # fmt: skip
_KINDS = ("auto", "text", "csv", "parquet", "arrow")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "etl",
        help="parse log/activity files into events, feature vectors and rejected lines",
        description="Reads files of any supported kind (log lines, JSON lines, CSV, Parquet, "
        "Arrow; .gz text is decompressed), writes DIR/events.parquet, the feature vectors "
        "DIR/features[-activity|-logs].parquet with the fitted pipeline beside them, and the "
        "rejected lines with their reasons to DIR/rejected.jsonl. Prints read/parsed/rejected "
        "counts. Exit status 1 when nothing at all could be parsed. With --engine spark the "
        "same steps run in Spark tasks (inputs may be folders, globs or any URI Spark reads; "
        "outputs are folders of part files with the same rows).",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="files to read (--engine spark: also folders, globs, s3a://, "
                        "hdfs://)")  # fmt: skip
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory")
    parser.add_argument("--format", default="auto", choices=_FORMATS,
                        help="payload format of text files (default: detect per line)")  # fmt: skip
    parser.add_argument("--kind", default="auto", choices=_KINDS,
                        help="file kind (default: from extension and magic bytes)")  # fmt: skip
    parser.add_argument("--spec", metavar="SPEC.json",
                        help="feature spec JSON, or a fitted pipeline JSON saved by an earlier "
                        "run (default: the built-in activity and logs specs)")  # fmt: skip
    parser.add_argument("--no-features", action="store_true", help="write events only")
    parser.add_argument("--rejected-format", default="jsonl", choices=("jsonl", "parquet"))
    parser.add_argument("--host", default="localhost",
                        help="host of log lines that name none (dpkg, apt)")  # fmt: skip
    parser.add_argument("--reference-time", metavar="ISO",
                        help="'now' for RFC 3164 years, UTC unless a zone is given "
                        "(default: each file's mtime)")  # fmt: skip
    parser.add_argument("--utc-offset-min", type=int, default=0,
                        help="UTC offset of zone-less log times (default 0)")  # fmt: skip
    parser.add_argument("--chunk-size", type=int, default=65_536, help="payloads per batch")
    add_engine_args(parser)
    bar = parser.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="always show a progress bar (default: inputs over 8 MiB)")  # fmt: skip
    bar.add_argument("--no-progress", dest="progress", action="store_false")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    options = parse_options(args)
    common = dict(
        fmt=args.format,
        kind=args.kind,
        spec_path=args.spec,
        options=options,
        rejected_format=args.rejected_format,
        features=not args.no_features,
        kernel_target=settings.kernel_target,
        chunk_size=args.chunk_size,
    )
    if args.engine == "spark":
        from streams.spark.etl import run_etl_spark

        result = run_etl_spark(args.inputs, args.out, **common, **engine_kwargs(args))
    else:
        from streams.etl.job import run_etl

        result = run_etl(args.inputs, args.out, **common, progress=args.progress)
    print_counts(result)
    return 1 if result.total.read and not result.total.parsed else 0


def parse_options(args: argparse.Namespace):
    """ParseOptions from --host, --reference-time and --utc-offset-min."""
    from streams.etl import InputFormatError, ParseOptions

    reference_ms = None
    if args.reference_time:
        try:
            when = datetime.fromisoformat(args.reference_time)
            if when.tzinfo is None:  # a zone-less reference is UTC, like zone-less log times
                when = when.replace(tzinfo=UTC)
            reference_ms = int(when.timestamp() * 1000)
        except ValueError:
            raise InputFormatError(
                f"--reference-time: expected an ISO 8601 time, got {args.reference_time!r}"
            ) from None
    return ParseOptions(default_host=args.host, reference_ms=reference_ms,
                        naive_utc_offset_min=args.utc_offset_min)  # fmt: skip


def print_counts(result) -> None:  # an EtlResult
    """The per-input count table, the first rejections and the files written."""
    width = max(len(p) for p in result.per_file)
    print(f"{'input':<{width}}  {'read':>9} {'parsed':>9} {'events':>9} {'rejected':>9}")
    rows = [*result.per_file.items(), ("total", result.total)]
    for name, c in rows:
        print(f"{name:<{width}}  {c.read:>9} {c.parsed:>9} {c.events:>9} {c.rejected:>9}")
    for rej in result.first_rejected:
        print(f"rejected {rej.origin} ({rej.stage}): {rej.reason[:160]}")
    for name, path in result.outputs.items():
        extra = f" ({result.feature_rows[name]} rows)" if name in result.feature_rows else ""
        print(f"wrote {name}: {path}{extra}")
    sys.stdout.flush()
