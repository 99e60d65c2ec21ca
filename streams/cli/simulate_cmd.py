"""``streamscore simulate``: draw a seeded population and write events + labels as Parquet."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from streams.cli._args import non_negative_int, out_dir, positive_int

__all__ = ["register", "run"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="simulate users, activity, machine logs and delayed churn/upsell labels",
        description="Writes events.parquet (EVENT_SCHEMA), labels.parquet (task, entity, "
        "decision/label time, label, true probability), raw_logs.txt and config.json.",
    )
    p.add_argument(
        "--users", type=positive_int, default=5000, help="number of users (default 5000)"
    )
    p.add_argument(
        "--hosts", type=non_negative_int, default=16, help="machines emitting logs (default 16)"
    )
    p.add_argument("--days", type=positive_int, default=42, help="days of history (default 42)")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument(
        "--drift-day",
        type=non_negative_int,
        default=None,
        help="from this day on, behaviour follows the drifted parameters",
    )
    p.add_argument(
        "--out",
        type=out_dir,
        default=None,
        help="output folder (default <state_dir>/sim/seed<seed>)",
    )
    p.add_argument(
        "--kafka",
        action="store_true",
        help="also produce activity, raw logs and outcomes to their Kafka topics "
        "(local broker or --bootstrap-servers; topics must exist: `topics create`)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings) -> int:
    from tqdm import tqdm

    from models.simulate import SimConfig, simulate, write_simulation

    cfg = SimConfig(
        n_users=args.users,
        n_hosts=args.hosts,
        days=args.days,
        seed=args.seed,
        drift_day=args.drift_day,
        decision_min_day=min(28, args.days - 7),
    )
    out = args.out or Path(settings.state_dir) / "sim" / f"seed{args.seed}"
    with tqdm(total=2, desc="simulate", unit="step") as bar:
        t = time.perf_counter()
        result = simulate(cfg)
        took = time.perf_counter() - t
        bar.update()
        paths = write_simulation(result, out)
        bar.update()
    n = result.events.num_rows
    print(
        f"{n} events ({n / took * 60 / 1e6:.1f}M events/min), {result.labels.num_rows} labels "
        f"-> {paths['events'].parent}"
    )
    for task in ("churn", "upsell"):
        lab = result.task_labels(task)
        from models.evaluation import auc

        y, p = lab["label"].to_numpy(), lab["true_p"].to_numpy()
        print(
            f"  {task}: {len(y)} decisions, positive rate {y.mean():.3f}, "
            f"oracle AUC {auc(y, p):.4f}"
        )
    if args.kafka:
        from models.simulate import TOPIC_KEYS, send_payloads
        from streams.kafka import resolve_bootstrap
        from streams.kafka.clients import make_producer
        from streams.topics import topic_name

        bootstrap = resolve_bootstrap(settings)
        topics = {kind: topic_name(settings, key) for kind, key in TOPIC_KEYS.items()}
        sent = send_payloads(
            result, make_producer(bootstrap, settings=settings), topics, progress=True
        )
        print("produced " + ", ".join(f"{n} to {topics[k]}" for k, n in sent.items()))
    return 0
