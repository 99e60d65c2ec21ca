"""``streamscore dlq list | replay``: inspect dead letters and send them back to their topics."""

from __future__ import annotations

import argparse
import json
from collections import Counter

from schemas import decode_dead_letter
from streams.cli._args import non_negative_int, positive_float
from streams.kafka import resolve_bootstrap
from streams.kafka.clients import make_producer, read_topic
from streams.settings import Settings
from streams.topics import topic_name

_STAGES = ("unknown", "decode", "parse", "validate", "featurise", "score", "publish")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "dlq",
        help="list or replay dead letters",
        description="Dead letters keep the original bytes, where they came from, the stage "
        "that rejected them and why. `replay` produces the original key and value again to "
        "the original topic (after you fixed what rejected them).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    lst = actions.add_parser("list", help="print dead letters and a count by stage")
    lst.add_argument(
        "-n", "--max", type=non_negative_int, default=50, help="at most this many (0: all)"
    )
    lst.add_argument("--json", action="store_true", help="JSON lines instead of text")
    lst.add_argument(
        "--idle", type=positive_float, default=3.0, help="stop after this many idle seconds"
    )
    lst.set_defaults(func=_list)
    replay = actions.add_parser("replay", help="produce dead letters back to their source topic")
    replay.add_argument(
        "-n", "--max", type=non_negative_int, default=0, help="at most this many (0: all)"
    )
    replay.add_argument(
        "--stage", choices=_STAGES, help="only letters rejected at this stage (e.g. parse)"
    )
    replay.add_argument(
        "--idle", type=positive_float, default=3.0, help="stop after this many idle seconds"
    )
    replay.set_defaults(func=_replay)


def _letters(args: argparse.Namespace, settings: Settings):  # noqa: ANN202
    bootstrap = resolve_bootstrap(settings)
    for msg in read_topic(
        bootstrap,
        topic_name(settings, "dead-letters"),
        max_records=args.max or None,
        idle_s=args.idle,
    ):
        yield decode_dead_letter(msg.value())


def _list(args: argparse.Namespace, settings: Settings) -> int:
    stages: Counter[str] = Counter()
    for letter in _letters(args, settings):
        stage = letter.stage.name.lower()
        stages[stage] += 1
        where = f"{letter.source_topic}[{letter.source_partition}]@{letter.source_offset}"
        value = (letter.value or b"")[:120].decode("utf-8", "replace")
        if args.json:
            print(
                json.dumps(
                    {"source": where, "stage": stage, "reason": letter.reason, "value": value}
                )
            )
        else:
            print(f"{where}  {stage}: {letter.reason}\n    {value!r}")
    if not args.json:
        print(
            f"{sum(stages.values())} dead letters: "
            + (", ".join(f"{k} {v}" for k, v in stages.most_common()) or "none")
        )
    return 0


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    # Read them all first: what is replayed may be rejected again, and must not be re-read.
    letters = list(_letters(args, settings))
    producer = make_producer(resolve_bootstrap(settings))
    sent = 0
    for letter in letters:
        if args.stage and letter.stage.name.lower() != args.stage.lower():
            continue
        if letter.value is None or not letter.source_topic:
            continue
        producer.produce(letter.source_topic, letter.value, letter.key)
        producer.poll(0)
        sent += 1
    producer.flush(30)
    print(f"replayed {sent} dead letters")
    return 0
