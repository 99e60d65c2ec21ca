"""``streamscore etl``: files in; normalised events, feature vectors and rejected lines out."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from streams.cli._args import existing_file, input_location, int_in, out_location, positive_int
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
    parser.add_argument("inputs", nargs="+", metavar="INPUT", type=input_location,
                        help="files to read (--engine spark: also folders, globs, s3a://, "
                        "hdfs://)")  # fmt: skip
    parser.add_argument("--out", required=True, metavar="DIR", type=out_location,
                        help="output directory (created when missing)")  # fmt: skip
    parser.add_argument("--format", default="auto", choices=_FORMATS,
                        help="payload format of text files (default: detect per line)")  # fmt: skip
    parser.add_argument("--kind", default="auto", choices=_KINDS,
                        help="file kind (default: from extension and magic bytes)")  # fmt: skip
    parser.add_argument("--spec", metavar="SPEC.json", type=existing_file,
                        help="feature spec JSON, or a fitted pipeline JSON saved by an earlier "
                        "run (default: the built-in activity and logs specs)")  # fmt: skip
    parser.add_argument("--no-features", action="store_true", help="write events only")
    parser.add_argument("--rejected-format", default="jsonl", choices=("jsonl", "parquet"))
    parser.add_argument("--host", default="localhost",
                        help="entity of log lines that name no host (dpkg, apt, RFC 5424 with "
                        "'-'): their events are keyed by it, their host field stays empty "
                        "(default localhost)")  # fmt: skip
    parser.add_argument("--reference-time", metavar="ISO", type=_reference_ms,
                        help="'now' for RFC 3164 years, UTC unless a zone is given "
                        "(default: each file's mtime)")  # fmt: skip
    parser.add_argument("--utc-offset-min", type=int_in(-1440, 1440, "minutes"), default=0,
                        help="UTC offset of zone-less log times (default 0)")  # fmt: skip
    parser.add_argument(
        "--chunk-size", type=positive_int, default=65_536, help="payloads per batch"
    )
    parser.add_argument("--parse-workers", type=positive_int, metavar="N",
                        help="local engine: processes that parse text inputs, 1 to parse in "
                        "the main one (default: one per available CPU when the text inputs "
                        "reach 32 MiB, else 1); the outputs are the same whatever N")  # fmt: skip
    add_engine_args(parser)
    bar = parser.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="always show a progress bar (default: inputs over 8 MiB)")  # fmt: skip
    bar.add_argument("--no-progress", dest="progress", action="store_false")
    parser.set_defaults(func=run)


def _reference_ms(text: str) -> int:
    """An ISO 8601 time as UTC epoch ms (a zone-less time is UTC, like zone-less log times)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO 8601 time, got {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def run(args: argparse.Namespace, settings: Settings) -> int:
    common = dict(
        fmt=args.format,
        kind=args.kind,
        spec_path=args.spec,
        options=parse_options(args),
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

        result = run_etl(args.inputs, args.out, **common, progress=args.progress,
                         parse_workers=args.parse_workers)  # fmt: skip
    print_counts(result)
    return 1 if result.total.read and not result.total.parsed else 0


def parse_options(args: argparse.Namespace):
    """ParseOptions from --host, --reference-time and --utc-offset-min."""
    from streams.etl import ParseOptions

    return ParseOptions(default_host=args.host, reference_ms=args.reference_time,
                        naive_utc_offset_min=args.utc_offset_min)  # fmt: skip


def print_counts(result) -> None:  # an EtlResult
    """The per-input count table, the first rejections and the files written."""
    width = max(len(p) for p in result.per_file)
    print(f"{'input':<{width}}  {'read':>9} {'parsed':>9} {'events':>9} {'rejected':>9}")
    rows = [*result.per_file.items(), ("total", result.total)]
    for name, c in rows:
        print(f"{name:<{width}}  {c.read:>9} {c.parsed:>9} {c.events:>9} {c.rejected:>9}")
    for rej in result.first_rejected:
        print(f"rejected {rej.origin} ({rej.stage.label}): {rej.reason[:160]}")
    for name, path in result.outputs.items():
        extra = f" ({result.feature_rows[name]} rows)" if name in result.feature_rows else ""
        print(f"wrote {name}: {path}{extra}")
    sys.stdout.flush()
