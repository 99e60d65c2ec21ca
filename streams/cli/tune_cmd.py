"""``streamscore tune``: random or grid search over the MLP's declared space (Arbiter's job)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from streams.cli._args import existing_file, non_negative_int, positive_int
from streams.cli._models_common import add_data_arg, print_table, read_data

__all__ = ["register", "run"]


def register(subparsers) -> None:
    p = subparsers.add_parser("tune", help="hyper-parameter search with early stopping")
    add_data_arg(p)
    p.add_argument("--task", choices=("churn", "upsell"), default="churn")
    p.add_argument("--strategy", choices=("random", "grid"), default="random")
    p.add_argument(
        "--trials", type=non_negative_int, default=8, help="trials (grid: first N; 0 = all)"
    )
    p.add_argument("--max-epochs", type=positive_int, default=30)
    p.add_argument(
        "--space",
        type=existing_file,
        default=None,
        help="JSON object of MLPParams field -> list of candidates "
        "(default: models.tuning.DEFAULT_SPACE)",
    )
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results JSON (default <state_dir>/reports/tune-<task>.json)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings) -> int:
    from models.dataset import build_labelled_set
    from models.training import fit_pipeline
    from models.tuning import search, trials_table

    events, labels = read_data(args, settings)
    space = json.loads(args.space.read_text()) if args.space else None
    pipeline = fit_pipeline(events, holdout=0.25, seed=args.seed)
    data = build_labelled_set(pipeline, events, labels, task=args.task, progress=True)
    train, val = data.split_by_entity(0.25, args.seed)
    trials = search(
        train,
        val,
        space,
        strategy=args.strategy,
        n_trials=args.trials,
        base={"epochs": args.max_epochs},
        seed=args.seed,
        progress=True,
    )
    rows = trials_table(trials)
    out = args.out or Path(settings.state_dir) / "reports" / f"tune-{args.task}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    print_table(rows, f"tuning {args.task} ({args.strategy}, {len(rows)} trials) -> {out}")
    return 0
