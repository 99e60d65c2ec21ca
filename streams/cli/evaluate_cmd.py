"""``streamscore evaluate``: score a registered version on data, write metrics JSON and plots."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from streams.cli._args import out_dir
from streams.cli._models_common import add_data_arg, add_task_arg, print_table, read_data, tasks_of

__all__ = ["register", "run"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="evaluate a model version: AUC, log loss, calibration error, oracle AUC, plots",
    )
    add_data_arg(p)
    add_task_arg(p)
    p.add_argument("--version", default=None, help="version to evaluate (default: champion)")
    p.add_argument(
        "--out",
        type=out_dir,
        default=None,
        help="report folder (default <state_dir>/reports/<task>-<version>)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings) -> int:
    import numpy as np

    from models.dataset import build_labelled_set
    from models.errors import RegistryError
    from models.evaluation import evaluate, plot_calibration, plot_roc
    from models.registry import ModelRegistry

    events, labels = read_data(args, settings)
    registry = ModelRegistry.from_settings(settings)
    rows = []
    for task in tasks_of(args):
        info = registry.get(task, args.version) if args.version else registry.champion(task)
        if info is None:
            raise RegistryError(f"evaluate {task}: expected a champion, found none; train first")
        pipeline = registry.load_pipeline(task, info.version)
        model = registry.load(task, info.version, fingerprint=pipeline.fingerprint)
        data = build_labelled_set(pipeline, events, labels, task=task, progress=True)
        p = model.score(data.X, data.names)
        known = bool(len(data)) and bool(np.isfinite(data.true_p).all())  # simulator data only
        metrics = evaluate(data.y, p, data.true_p if known else None)
        metrics.update(task=task, version=info.version, kind=info.kind, dropped=data.dropped)
        out = args.out or Path(settings.state_dir) / "reports" / f"{task}-{info.version}"
        out.mkdir(parents=True, exist_ok=True)
        curves = {f"{info.kind} {info.version}": p}
        if known:
            curves["oracle (true p)"] = data.true_p
        plot_roc(data.y, curves, out / "roc.png", title=f"{task} ROC")
        plot_calibration(data.y, p, out / "calibration.png", title=f"{task} calibration")
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
        rows.append(
            {
                "task": task,
                "version": info.version,
                "auc": metrics["auc"],
                "oracle_auc": metrics.get("oracle_auc", float("nan")),
                "log_loss": metrics["log_loss"],
                "ece": metrics["ece"],
                "report": str(out),
            }
        )
    print_table(rows, "evaluation")
    return 0
