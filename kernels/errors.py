"""Errors raised by the kernels' checked wrappers."""

from __future__ import annotations

from streams.errors import StreamscoreError

__all__ = ["KernelInputError", "KernelTargetError"]


class KernelInputError(StreamscoreError, ValueError):
    """A kernel wrapper was given arrays of the wrong shape, dtype or range."""


class KernelTargetError(StreamscoreError, RuntimeError):
    """The requested kernel target (CPU/CUDA) cannot be used on this machine."""
