"""Helpers shared by the model sub-commands (kept out of the commands' import path of TF)."""

from __future__ import annotations

import argparse
from pathlib import Path

from streams.cli._args import existing_dir

__all__ = [
    "TASKS",
    "add_data_arg",
    "add_task_arg",
    "data_folder",
    "print_table",
    "read_data",
    "tasks_of",
]

TASKS = ("churn", "upsell")


def add_task_arg(p: argparse.ArgumentParser, allow_all: bool = True) -> None:
    choices = (*TASKS, "all") if allow_all else TASKS
    p.add_argument("--task", choices=choices, default="all" if allow_all else "churn")


def add_data_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        type=existing_dir,
        default=None,
        help="folder with events.parquet and labels.parquet (files, or folders written by "
        "Spark), e.g. by `streamscore simulate` (default <state_dir>/sim/seed0)",
    )


def tasks_of(args) -> tuple[str, ...]:
    return TASKS if args.task == "all" else (args.task,)


def data_folder(args, settings) -> Path:
    """--data, else the default simulation's folder; ConfigError when it holds no events."""
    folder = Path(args.data) if args.data else Path(settings.state_dir) / "sim" / "seed0"
    if not (folder / "events.parquet").exists():
        from streams.errors import ConfigError

        raise ConfigError(
            f"reading training data: expected events.parquet and labels.parquet in {folder}, "
            "found none (run `streamscore simulate` first or pass --data)"
        )
    return folder


def read_data(args, settings):
    """(events, labels) from :func:`data_folder`: files, or folders written by Spark."""
    from models.simulate import read_simulation

    return read_simulation(data_folder(args, settings))


def print_table(rows: list[dict], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    if not rows:
        Console().print(f"{title}: (none)")
        return
    for key in rows[0]:
        table.add_column(str(key))
    for row in rows:
        table.add_row(*(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row.values()))
    Console().print(table)
