"""``streamscore dlq list | replay``: inspect dead letters and send them back to their topics."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from schemas import DeadLetter, DeadLetterStage, decode_dead_letter
from streams.cli._args import non_negative_int, positive_float
from streams.kafka import resolve_bootstrap
from streams.kafka.clients import make_producer, read_topic
from streams.settings import Settings
from streams.topics import topic_name

_STAGES = tuple(stage.label for stage in DeadLetterStage)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "dlq",
        help="list or replay dead letters",
        description="Dead letters keep the original bytes, where they came from, the stage "
        "that rejected them and why. A value above STREAMSCORE_DEAD_LETTER_MAX_VALUE_BYTES "
        "(or a key above 16 KiB) is kept as its first bytes plus its original length and "
        "SHA-256 (shown as 'truncated'); the whole record stays at its source topic, "
        "partition and offset while that topic retains it. `replay` produces the original "
        "key and value again to the original topic (after you fixed what rejected them); it "
        "does not replay truncated letters, says which, and then exits with status 1.",
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


def _letters(args: argparse.Namespace, settings: Settings):
    bootstrap = resolve_bootstrap(settings)
    for msg in read_topic(
        bootstrap,
        topic_name(settings, "dead-letters"),
        settings=settings,
        max_records=args.max or None,
        idle_s=args.idle,
    ):
        yield decode_dead_letter(msg.value())


def where(letter: DeadLetter) -> str:
    """``topic[partition]@offset`` of a dead letter's original record."""
    return f"{letter.source_topic}[{letter.source_partition}]@{letter.source_offset}"


def letter_fields(letter: DeadLetter, preview: int = 120) -> dict:
    """A dead letter as plain JSON-able fields, the same keys for every letter: origin, stage,
    reason, the first ``preview`` bytes of the value (as text), how many value bytes the letter
    holds, and whether the value and key are truncated, with the originals' length and SHA-256
    when they are (-1 and None when not)."""
    return {
        "source": where(letter),
        "stage": letter.stage.label,
        "reason": letter.reason,
        "value": (letter.value or b"")[:preview].decode("utf-8", "replace"),
        "value_bytes": len(letter.value or b""),
        "value_truncated": letter.value_truncated,
        "original_value_length": letter.original_value_length,
        "original_value_sha256": letter.original_value_sha256,
        "key_truncated": letter.key_truncated,
        "original_key_length": letter.original_key_length,
        "original_key_sha256": letter.original_key_sha256,
    }


def truncation_note(letter: DeadLetter) -> str:
    """One line per truncated part of a dead letter (empty when nothing is truncated)."""
    notes = []
    for name in ("value", "key"):
        if getattr(letter, f"{name}_truncated"):
            notes.append(
                f"{name} truncated: first {len(getattr(letter, name) or b'')} of "
                f"{getattr(letter, f'original_{name}_length')} bytes kept, original SHA-256 "
                f"{getattr(letter, f'original_{name}_sha256')}"
            )
    return "; ".join(notes)


def _list(args: argparse.Namespace, settings: Settings) -> int:
    stages: Counter[str] = Counter()
    for letter in _letters(args, settings):
        stage = letter.stage.label
        stages[stage] += 1
        if args.json:
            print(json.dumps(letter_fields(letter)))
        else:
            value = (letter.value or b"")[:120].decode("utf-8", "replace")
            print(f"{where(letter)}  {stage}: {letter.reason}\n    {value!r}")
            if letter.truncated:
                print(f"    {truncation_note(letter)}")
    if not args.json:
        print(
            f"{sum(stages.values())} dead letters: "
            + (", ".join(f"{k} {v}" for k, v in stages.most_common()) or "none")
        )
    return 0


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    # Read them all first: what is replayed may be rejected again, and must not be re-read.
    letters = list(_letters(args, settings))
    producer = make_producer(resolve_bootstrap(settings), settings=settings)
    sent = truncated = 0
    for letter in letters:
        if args.stage and letter.stage.label != args.stage.lower():
            continue
        if letter.truncated:
            # Only its first bytes are here: replaying them would send a different record.
            truncated += 1
            print(
                f"not replayed: {where(letter)}: {truncation_note(letter)}; the whole record "
                f"is at offset {letter.source_offset} of partition {letter.source_partition} "
                f"of {letter.source_topic} while that topic retains it",
                file=sys.stderr,
            )
            continue
        if letter.value is None or not letter.source_topic:
            continue
        producer.produce(letter.source_topic, letter.value, letter.key)
        producer.poll(0)
        sent += 1
    producer.flush(30)
    print(f"replayed {sent} dead letters")
    if truncated:
        print(
            f"{truncated} truncated dead letters were not replayed (listed above)",
            file=sys.stderr,
        )
        return 1
    return 0
