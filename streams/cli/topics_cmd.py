"""``streamscore topics create | list``: the declared topics on the cluster."""

from __future__ import annotations

import argparse

from streams.kafka import resolve_bootstrap
from streams.kafka.admin import create_topics, list_topics
from streams.settings import Settings
from streams.topics import TOPICS, topic_name


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "topics",
        help="create or list streamscore's Kafka topics",
        description="Topics are declared once in streams/topics.py; `create` is idempotent.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create every declared topic that is missing")
    create.set_defaults(func=_create)
    lst = actions.add_parser("list", help="list the declared topics and whether they exist")
    lst.add_argument("--all", action="store_true", help="list every topic on the cluster")
    lst.set_defaults(func=_list)


def _create(args: argparse.Namespace, settings: Settings) -> int:
    for name, outcome in create_topics(settings, resolve_bootstrap(settings)).items():
        print(f"{name:40s} {outcome}")
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    present = list_topics(resolve_bootstrap(settings), settings=settings)
    if args.all:
        for name, partitions in present.items():
            print(f"{name:40s} {partitions:3d} partitions")
        return 0
    print(f"{'topic':40s} {'partitions':>10s}  {'cleanup':8s} serialisation")
    for key, spec in TOPICS.items():
        name = topic_name(settings, key)
        have = f"{present[name]:>10d}" if name in present else f"{'missing':>10s}"
        print(f"{name:40s} {have}  {spec.cleanup_policy:8s} {spec.serialisation}")
    return 0
