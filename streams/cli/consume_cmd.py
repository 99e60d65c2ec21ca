"""``streamscore consume``: read scores (FlatBuffers) from Kafka as a table or JSON lines."""

from __future__ import annotations

import argparse
import json
import sys

from schemas import SCORE_FIELDS, decode_dead_letter, decode_score_batch, decode_score_results
from streams.cli._args import non_negative_int, positive_float
from streams.cli.dlq_cmd import letter_fields
from streams.kafka import resolve_bootstrap
from streams.kafka.clients import read_topic
from streams.settings import Settings
from streams.topics import topic_name

_COLUMNS = SCORE_FIELDS


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "consume",
        help="decode and print results from the scores topics",
        description="Reads committed records (read_committed) of the per-event scores topic, "
        "the columnar score-batches topic or the dead-letters topic, and prints them as a "
        "table or as JSON lines.",
    )
    parser.add_argument(
        "--topic",
        choices=("scores", "score-batches", "dead-letters"),
        default="scores",
        help="which output to read (default scores)",
    )
    parser.add_argument("--format", choices=("table", "jsonl"), default="table")
    parser.add_argument(
        "-n",
        "--max",
        type=non_negative_int,
        default=20,
        help="stop after this many records (0: no limit; default 20)",
    )
    parser.add_argument(
        "--idle",
        type=positive_float,
        default=5.0,
        help="stop after this many seconds without a record (default 5)",
    )
    parser.add_argument("-f", "--follow", action="store_true", help="keep waiting for records")
    parser.add_argument("--latest", action="store_true", help="start at the end, not the start")
    parser.set_defaults(func=_run)


def rows_of(topic: str, value: bytes) -> list[dict]:
    """The decoded rows of one record of output ``topic`` (one, or many for a ScoreBatch)."""
    if topic == "scores":
        cols = decode_score_results([value])
        return [{k: _plain(cols[k][0]) for k in _COLUMNS}]
    if topic == "score-batches":
        batch = decode_score_batch(value)
        n = len(batch.event_id)
        return [{k: _plain(_column(batch, k, n)[i]) for k in _COLUMNS} for i in range(n)]
    return [letter_fields(decode_dead_letter(value), preview=200)]


def _column(batch, name: str, n: int):
    value = getattr(batch, name)
    return [value] * n if isinstance(value, str) else value


def _plain(v):
    return v.item() if hasattr(v, "item") else v


def _run(args: argparse.Namespace, settings: Settings) -> int:
    bootstrap = resolve_bootstrap(settings)
    name = topic_name(settings, args.topic)
    printed = 0
    header = False
    for msg in read_topic(
        bootstrap,
        name,
        settings=settings,
        max_records=args.max or None,
        idle_s=args.idle,
        from_beginning=not args.latest,
        follow=args.follow,
    ):
        for row in rows_of(args.topic, msg.value()):
            if args.format == "jsonl":
                print(json.dumps(row, default=str))
            else:
                if not header:
                    print("  ".join(f"{k:>14.14s}" for k in row))
                    header = True
                print("  ".join(f"{str(v):>14.14s}" for v in row.values()))
            printed += 1
    if not printed:
        print(f"no records on {name}", file=sys.stderr)
    return 0
