"""Argument types for the sub-commands: each checks one value at parse time and, when it is
bad, says what was expected and what was found, so argparse ends the command with
``streamscore: error: ...`` and exit code 2 instead of a traceback later on."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "ErrorFormatParser",
    "comma_list",
    "existing_dir",
    "existing_file",
    "fraction",
    "http_url",
    "input_location",
    "int_in",
    "non_negative_int",
    "out_dir",
    "out_location",
    "port",
    "positive_float",
    "positive_int",
]


class ErrorFormatParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors read ``streamscore: error: <sub-command>: ...``
    (usage first, exit code 2), for the top-level parser and, inherited, every sub-parser."""

    def error(self, message: str):
        self.print_usage()
        where = self.prog.partition(" ")[2]
        self.exit(2, f"streamscore: error: {where + ': ' if where else ''}{message}\n")


def _number(kind: type, text: str) -> int | float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
        ) from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def int_in(lo: int | None, hi: int | None, what: str = "an integer") -> Callable[[str], int]:
    """An integer in ``lo..hi`` (``None``: unbounded on that side)."""

    def convert(text: str) -> int:
        value = int(_number(int, text))
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            span = f"{'' if lo is None else lo}..{'' if hi is None else hi}"
            raise argparse.ArgumentTypeError(f"expected {what} in {span}, got {text!r}")
        return value

    return convert


positive_int = int_in(1, None, "an integer")
non_negative_int = int_in(0, None, "an integer")
port = int_in(0, 65_535, "a TCP port")


def positive_float(text: str) -> float:
    value = float(_number(float, text))
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A share strictly between 0 and 1."""
    value = float(_number(float, text))
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a share in (0, 1), got {text!r}")
    return value


def comma_list(choices: Sequence[str]) -> Callable[[str], list[str]]:
    """A comma-separated, non-empty subset of ``choices``."""

    def convert(text: str) -> list[str]:
        items = [x.strip() for x in text.split(",") if x.strip()]
        bad = [x for x in items if x not in choices]
        if not items or bad:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {', '.join(choices)}, got {text!r}"
            )
        return items

    return convert


def existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        found = "a directory" if path.is_dir() else "nothing there"
        raise argparse.ArgumentTypeError(f"expected a readable file, got {text!r} ({found})")
    return path


def _spark_only(text: str) -> bool:
    return "://" in text or any(c in text for c in "*?[")


def input_location(text: str) -> Path | str:
    """An input of the offline commands: a readable file, or (for ``--engine spark``, which
    checks them) a folder, a glob or a URI such as ``s3a://...``, kept as text."""
    if _spark_only(text) or Path(text).is_dir():
        return text
    return existing_file(text)


def out_location(text: str) -> Path | str:
    """An output directory (:func:`out_dir`), or a URI for ``--engine spark``."""
    return text if "://" in text else out_dir(text)


def existing_dir(text: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        found = "a file" if path.exists() else "nothing there"
        raise argparse.ArgumentTypeError(f"expected a directory, got {text!r} ({found})")
    return path


def out_dir(text: str) -> Path:
    """A directory to write into: one that exists, or a path where none is yet."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(
            f"expected a directory (created when missing), got the file {text!r}"
        )
    return path


def http_url(text: str) -> str:
    """An http(s) URL with a host, or ``none``."""
    if text == "none":
        return text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"expected an http(s) URL like http://127.0.0.1:6066/metrics, or none, got {text!r}"
        )
    try:
        _ = parts.port  # raises ValueError for a port out of range
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a port 0..65535 in the URL, got {text!r}"
        ) from None
    return text
