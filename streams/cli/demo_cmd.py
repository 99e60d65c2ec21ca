"""``streamscore demo``: the main job, from nothing to live data on a real Kafka broker."""

from __future__ import annotations

import argparse

from streams.demo import activity_payloads, machine_log_lines, round_trip
from streams.kafka import broker_up
from streams.settings import Settings
from streams.topics import create_topics, topic_name


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo",
        help="start Kafka, create the topics and round-trip real events",
        description="Starts the local broker (unless KAFKA_BOOTSTRAP_SERVERS is set), creates "
        "every declared topic, produces generated activity events and this machine's own log "
        "lines, reads them back and checks them. Exits non-zero if anything came back wrong.",
    )
    parser.add_argument("--events", type=int, default=20_000, help="activity events to produce")
    parser.add_argument("--log-lines", type=int, default=5_000, help="max machine log lines")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if settings.kafka_bootstrap_servers:
        bootstrap = settings.kafka_bootstrap_servers
        print(f"Kafka: using KAFKA_BOOTSTRAP_SERVERS={bootstrap}")
    else:
        info = broker_up(settings)
        bootstrap = info.bootstrap
        state = "already running" if info.already_running else "started"
        print(f"Kafka {info.version}: {state} at {bootstrap} (pid {info.pid})")
    for name, outcome in create_topics(settings, bootstrap).items():
        print(f"  topic {name:36s} {outcome}")

    jobs = [
        (topic_name(settings, "activity"), list(activity_payloads(args.events))),
        (topic_name(settings, "raw-logs"), machine_log_lines(args.log_lines)),
    ]
    ok = True
    print(f"\n{'topic':36s} {'produced':>9s} {'consumed':>9s} {'intact':>7s} {'rate/s':>9s}")
    for topic, records in jobs:
        result = round_trip(bootstrap, topic, records)
        ok &= result.intact and result.consumed == len(records)
        rate = result.produced / result.seconds if result.seconds else 0.0
        print(
            f"{topic:36s} {result.produced:9d} {result.consumed:9d} "
            f"{'yes' if result.intact else 'NO':>7s} {rate:9.0f}"
        )
    print("\nall records came back intact" if ok else "\nSOME RECORDS DID NOT COME BACK")
    if not settings.kafka_bootstrap_servers:
        print("the broker keeps running: `streamscore kafka status`, `streamscore kafka down`")
    return 0 if ok else 1
