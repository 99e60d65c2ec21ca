"""``streamscore models list|show|promote|rollback``: inspect and steer the model registry."""

from __future__ import annotations

import argparse
import json

from streams.cli._models_common import TASKS, print_table

__all__ = ["register", "run"]


_NO_PUBLISH = (
    "change only this registry (no broker needed); running workers are not told, and a worker "
    "that starts later re-applies the last model event on the topic"
)


def register(subparsers) -> None:
    p = subparsers.add_parser("models", help="list, show, promote or roll back model versions")
    sub = p.add_subparsers(dest="models_action", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="versions with status and held-out AUC")
    ls.add_argument("--task", choices=TASKS, default=None)
    show = sub.add_parser("show", help="a version's manifest")
    show.add_argument("task", choices=TASKS)
    show.add_argument("version")
    pr = sub.add_parser(
        "promote",
        help="make a version the champion and tell every worker (model-events topic)",
        description="Promote VERSION in the registry, record the decision, and publish it on "
        "the compacted model-events topic with the version's files; every running worker "
        "hot-swaps to it between two batches, and workers started later pick it up.",
    )
    pr.add_argument("task", choices=TASKS)
    pr.add_argument("version")
    pr.add_argument("--no-publish", action="store_true", help=_NO_PUBLISH)
    rb = sub.add_parser(
        "rollback",
        help="reinstate the previous champion and tell every worker (model-events topic)",
        description="Retire the champion, reinstate the previous one, record the decision and "
        "publish it on model-events (the same path as `promote` and the retraining gate).",
    )
    rb.add_argument("task", choices=TASKS)
    rb.add_argument("--no-publish", action="store_true", help=_NO_PUBLISH)
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
        old = reg.champion(args.task)
        v = reg.promote(args.task, args.version)
        print(f"{args.task}: {v.version} is now champion")
        return _publish(settings, reg, args.task, "promoted", v.version, old, not args.no_publish)
    else:
        old = reg.champion(args.task)
        v = reg.rollback(args.task)
        print(f"{args.task}: rolled back; {v.version} is champion again")
        return _publish(
            settings, reg, args.task, "rolled_back", v.version, old, not args.no_publish
        )
    return 0


def _publish(settings, reg, task, event, version, old, publish=True) -> int:
    """The registry changed; publish it on model-events (what makes the workers swap)."""
    if not publish:
        reg.record_decision(
            task,
            {
                "task": task,
                "event": event,
                "version": version,
                "reason": "by hand, not published (--no-publish)",
            },
        )
        return 0
    from streams.errors import KafkaSetupError
    from streams.learning.events import champion_event, publish_event

    ev = champion_event(
        reg,
        task,
        event,
        version,
        reason=f"by hand (streamscore models {'promote' if event == 'promoted' else 'rollback'})",
        metrics={"previous_champion": old.version if old else None},
    )
    try:
        publish_event(settings, ev)
    except KafkaSetupError as exc:
        print(f"the registry changed, but the model event was not published: {exc}")
        return 1
    print(f"published model event {task} {event} {version} on model-events")
    return 0
