"""``streamscore produce``: replay files, or the simulator, into the input topics at a rate."""

from __future__ import annotations

import argparse

from streams.cli._args import existing_file, non_negative_int, positive_float, positive_int
from streams.settings import Settings

_FORMATS = ("auto", "syslog", "syslog3164", "syslog5424", "dpkg", "apt_history", "access_log",
            "apache_error", "logstash", "activity")  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "produce",
        help="replay files or the simulator into the input topics",
        description="Sends every record keyed by its entity (user id, or host) with Kafka's "
        "default partitioner. Text files (syslog, dpkg, apt history, access/error logs, "
        "Logstash JSON, activity JSON lines) are sent line by line (apt history stanza by "
        "stanza) to raw-logs or activity; lines that do not parse are sent unkeyed, so the "
        "workers dead-letter them. CSV/Parquet/Arrow files of activity go as Arrow IPC batches, "
        "one message per partition. --simulate draws a seeded population instead.",
    )
    parser.add_argument("inputs", nargs="*", type=existing_file, help="files to replay")
    parser.add_argument(
        "--format", default="auto", choices=_FORMATS, help="payload format of text files"
    )
    parser.add_argument("--simulate", action="store_true", help="replay a fresh simulation")
    parser.add_argument(
        "--users", type=positive_int, default=2000, help="simulated users (default 2000)"
    )
    parser.add_argument("--days", type=positive_int, default=35, help="simulated days (default 35)")
    parser.add_argument(
        "--seed", type=non_negative_int, default=1, help="simulation seed (default 1)"
    )
    parser.add_argument(
        "--drift-day", type=non_negative_int, default=None, help="switch to drifted behaviour"
    )
    parser.add_argument(
        "--arrow",
        action="store_true",
        help="send simulated activity as Arrow IPC batches, not JSON events",
    )
    parser.add_argument(
        "--rate",
        type=positive_float,
        default=None,
        help="events per second (default: as fast as Kafka takes them)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from streams.errors import ConfigError
    from streams.kafka import resolve_bootstrap
    from streams.produce import Publisher, replay_file, replay_simulation

    if not args.inputs and not args.simulate:
        raise ConfigError("produce: expected input files or --simulate, got neither")
    with (
        Publisher(settings, resolve_bootstrap(settings), rate=args.rate) as pub,
        tqdm(unit="ev", desc="produce", mininterval=0.5) as bar,
    ):
        for path in args.inputs:
            for n in replay_file(pub, path, args.format):
                bar.update(n)
        if args.simulate:
            for n in replay_simulation(
                pub,
                users=args.users,
                days=args.days,
                seed=args.seed,
                drift_day=args.drift_day,
                arrow=args.arrow,
            ):
                bar.update(n)
    stats = pub.stats
    for key in sorted(stats.records):
        print(f"{key:10s} {stats.events[key]:9d} events in {stats.records[key]:9d} records")
    total = sum(stats.events.values())
    print(f"{total} events in {stats.seconds:.1f}s ({total / max(stats.seconds, 1e-9):.0f}/s)")
    return 0
