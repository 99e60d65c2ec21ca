"""The ``streamscore`` command line.

Each sub-command lives in its own module of this package and exposes
``register(subparsers) -> None``, which adds its parser and sets ``func`` (called with the parsed
arguments and the settings, returning an exit code). Add a module to :data:`COMMAND_MODULES` to
make it appear. A command that writes the state directory (:data:`STATE_WRITERS`) has it
checked first (writable, free space), so a bad one is one ``streamscore: error:`` line.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from streams.cli._args import ErrorFormatParser
from streams.errors import ConfigError, StreamscoreError
from streams.settings import load_settings
from streams.state_dir import check_state_dir

__all__ = ["build_parser", "main"]

COMMAND_MODULES: tuple[str, ...] = (
    "streams.cli.kafka_cmd",
    "streams.cli.topics_cmd",
    "streams.cli.demo_cmd",
    "streams.cli.etl_cmd",
    "streams.cli.score_cmd",
    "streams.cli.simulate_cmd",
    "streams.cli.train_cmd",
    "streams.cli.evaluate_cmd",
    "streams.cli.tune_cmd",
    "streams.cli.models_cmd",
    "streams.cli.worker_cmd",
    "streams.cli.produce_cmd",
    "streams.cli.consume_cmd",
    "streams.cli.dlq_cmd",
    "streams.cli.gui_cmd",
)


STATE_WRITERS: dict[str, frozenset[str] | None] = {
    "kafka": frozenset({"up"}),
    "models": frozenset({"promote", "rollback"}),
    "worker": None,
    "demo": None,
    "train": None,
    "simulate": None,
    "evaluate": None,
    "tune": None,
}
"""Commands (and, where given, their actions) that write under the state directory."""


def _writes_state(args: argparse.Namespace) -> bool:
    if args.command not in STATE_WRITERS:
        return False
    actions = STATE_WRITERS[args.command]
    action = getattr(args, "action", None) or getattr(args, "models_action", None)
    return actions is None or action in actions


def _add_global_options(parser: argparse.ArgumentParser) -> None:
    """The options that come before the command."""
    parser.add_argument(
        "--state-dir",
        help="state directory for broker data, models, logs and caches "
        "(default ./var, env STREAMSCORE_STATE_DIR)",
    )
    parser.add_argument(
        "--bootstrap-servers",
        help="use this Kafka cluster instead of the local broker (env KAFKA_BOOTSTRAP_SERVERS)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show TensorFlow's start-up and C++ log lines (hidden by default; also shown with "
        "TF_CPP_MIN_LOG_LEVEL=0 or a worker's --loglevel debug)",
    )


class _GlobalOptions(argparse.ArgumentParser):
    """The options before the command, to find which command a command line names."""

    def error(self, message: str) -> NoReturn:
        raise ValueError(message)  # the full parser reports it


def _command_of(argv: Sequence[str]) -> str | None:
    """The command a command line names (``worker`` in ``--state-dir d worker -l warn``), or
    None (none, ``--help``, or options the full parser must report)."""
    pre = _GlobalOptions(add_help=False)
    _add_global_options(pre)
    pre.add_argument("rest", nargs=argparse.REMAINDER)
    try:
        rest = pre.parse_known_args(list(argv))[0].rest
    except ValueError:
        return None
    return rest[0] if rest else None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command; of ``command`` alone when it names one (importing one
    command's module instead of all of them saves about 0.5 CPU-s in every process started
    with a command line, such as each worker)."""
    module = f"streams.cli.{command}_cmd"
    modules = (module,) if module in COMMAND_MODULES else COMMAND_MODULES
    parser = ErrorFormatParser(
        prog="streamscore",
        description="Streaming ETL and online scoring on Apache Kafka.",
    )
    _add_global_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in modules:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(_command_of(argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a bad argument (2, already printed)
        return exc.code if isinstance(exc.code, int) else 2
    if args.verbose or getattr(args, "loglevel", None) == "debug":
        from models._tf import show_tensorflow_logs  # cheap: TensorFlow is not imported here

        show_tensorflow_logs()  # before any command imports TensorFlow; children inherit it
    try:
        settings = load_settings(
            state_dir=args.state_dir, kafka_bootstrap_servers=args.bootstrap_servers
        )
        if _writes_state(args):
            check_state_dir(settings.state_dir)
        if settings.state_dir.exists() and not settings.state_dir.is_dir():
            raise ConfigError(
                "state directory (--state-dir, env STREAMSCORE_STATE_DIR): expected a directory "
                f"(created when missing), got the file {str(settings.state_dir)!r}"
            )
        return int(args.func(args, settings) or 0)
    except StreamscoreError as exc:
        print(f"streamscore: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path given or derived that cannot be read, written or created
        what = f"{exc.strerror}: {exc.filename!r}" if exc.strerror and exc.filename else exc
        print(f"streamscore: error: {args.command}: {what}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
