"""``streamscore models list|show|promote|rollback``: inspect and steer the model registry."""

from __future__ import annotations

import argparse
import json

from streams.cli._models_common import TASKS, print_table

__all__ = ["register", "run"]


def register(subparsers) -> None:
    p = subparsers.add_parser("models", help="list, show, promote or roll back model versions")
    sub = p.add_subparsers(dest="models_action", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="versions with status and held-out AUC")
    ls.add_argument("--task", choices=TASKS, default=None)
    show = sub.add_parser("show", help="a version's manifest")
    show.add_argument("task", choices=TASKS)
    show.add_argument("version")
    pr = sub.add_parser("promote", help="make a version the champion")
    pr.add_argument("task", choices=TASKS)
    pr.add_argument("version")
    rb = sub.add_parser("rollback", help="reinstate the previous champion")
    rb.add_argument("task", choices=TASKS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings) -> int:
    from models.registry import ModelRegistry

    reg = ModelRegistry.from_settings(settings)
    action = args.models_action
    if action == "list":
        rows = []
        for task in [args.task] if args.task else TASKS:
            for v in reg.versions(task):
                m = v.metrics.get("model", {})
                rows.append(
                    {
                        "task": task,
                        "version": v.version,
                        "status": v.status,
                        "kind": v.kind,
                        "parent": v.parent or "-",
                        "auc": m.get("auc", float("nan")),
                        "oracle_auc": m.get("oracle_auc", float("nan")),
                        "fingerprint": v.fingerprint[:19],
                    }
                )
        print_table(rows, f"models in {reg.root}")
    elif action == "show":
        print(json.dumps(reg.get(args.task, args.version).to_dict(), indent=2))
    elif action == "promote":
        v = reg.promote(args.task, args.version)
        print(f"{args.task}: {v.version} is now champion")
    else:
        v = reg.rollback(args.task)
        print(f"{args.task}: rolled back; {v.version} is champion again")
    return 0
