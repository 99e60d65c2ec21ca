"""Errors raised while encoding or decoding the FlatBuffers contracts."""

from __future__ import annotations

from streams.errors import StreamscoreError

__all__ = ["CodecError"]


class CodecError(StreamscoreError, ValueError):
    """Columns or a dead letter cannot be encoded, or bytes are not the expected FlatBuffer."""
