"""``streamscore train``: fit the feature pipeline and a model per task, register versions."""

from __future__ import annotations

import argparse

from schemas.events import ENTITY_KINDS
from streams.cli._args import comma_list, fraction, non_negative_int, positive_int
from streams.cli._engine import add_engine_args, engine_kwargs
from streams.cli._models_common import (
    add_data_arg,
    add_task_arg,
    data_folder,
    print_table,
    read_data,
    tasks_of,
)

__all__ = ["register", "run"]


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train churn/upsell models and register them")
    add_data_arg(p)
    add_task_arg(p)
    p.add_argument("--kind", choices=("mlp", "logistic"), default="mlp")
    p.add_argument("--epochs", type=positive_int, default=None, help="max epochs (MLP; default 40)")
    p.add_argument("--holdout", type=fraction, default=0.2, help="share of users held out")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument(
        "--entity-kinds",
        type=comma_list([k.value for k in ENTITY_KINDS]),
        default=["user"],
        metavar="KINDS",
        help="entity kinds the new models score, comma-separated among "
        f"{', '.join(k.value for k in ENTITY_KINDS)} (default: user); the pipeline gives "
        "events of other kinds no score from them",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--promote",
        dest="promote",
        action="store_true",
        default=None,
        help="make the new version champion (default: only if there is none)",
    )
    g.add_argument("--no-promote", dest="promote", action="store_false")
    add_engine_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings) -> int:
    from models.registry import ModelRegistry
    from models.training import fit_pipeline, train_task

    registry = ModelRegistry.from_settings(settings)
    build = {}
    if args.engine == "spark":  # events and labels stay in Spark; labelled rows come back
        from streams.spark.join import read_events_labels
        from streams.spark.session import spark_session
        from streams.spark.train import fit_serving_pipeline, spark_builder

        spark_args = engine_kwargs(args)
        spark = spark_session(spark_args["master"], spark_args["conf"], app="streamscore train")
        events, labels = read_events_labels(spark, str(data_folder(args, settings)))
        pipeline = fit_serving_pipeline(spark, events, holdout=args.holdout, seed=args.seed,
                                        partitions=spark_args["partitions"])  # fmt: skip
        build["build"] = spark_builder(spark, spark_args["partitions"])
    else:
        events, labels = read_data(args, settings)
        pipeline = fit_pipeline(events, holdout=args.holdout, seed=args.seed)
    params = {}
    if args.kind == "mlp":
        params["seed"] = args.seed
        if args.epochs is not None:
            params["epochs"] = args.epochs
    rows = []
    for task in tasks_of(args):
        out = train_task(
            task,
            events,
            labels,
            kind=args.kind,
            params=params,
            pipeline=pipeline,
            holdout=args.holdout,
            seed=args.seed,
            registry=registry,
            promote=args.promote,
            progress=True,
            entity_kinds=args.entity_kinds,
            **build,
        )
        for which in ("model", "baseline"):
            m = out.metrics[which]
            rows.append(
                {
                    "task": task,
                    "version": out.version.version,
                    "status": out.version.status,
                    "model": out.model.kind if which == "model" else "logistic (baseline)",
                    "auc": m["auc"],
                    "oracle_auc": m.get("oracle_auc", float("nan")),
                    "log_loss": m["log_loss"],
                    "ece": m["ece"],
                }
            )
    print_table(rows, "held-out metrics")
    return 0
