"""Which of our FlatBuffers a message is, from its file identifier (bytes 4..8)."""

from __future__ import annotations

from enum import StrEnum

from schemas.codec import SCORE_BATCH_IDENTIFIER, SCORE_RESULT_IDENTIFIER
from schemas.deadletter import DEAD_LETTER_IDENTIFIER
from schemas.errors import CodecError

__all__ = ["MessageKind", "message_kind"]


class MessageKind(StrEnum):
    """The root types of ``schemas/*.fbs``."""

    SCORE_RESULT = "ScoreResult"
    SCORE_BATCH = "ScoreBatch"
    DEAD_LETTER = "DeadLetter"


_BY_IDENTIFIER = {
    SCORE_RESULT_IDENTIFIER: MessageKind.SCORE_RESULT,
    SCORE_BATCH_IDENTIFIER: MessageKind.SCORE_BATCH,
    DEAD_LETTER_IDENTIFIER: MessageKind.DEAD_LETTER,
}


def message_kind(buffer: bytes | bytearray | memoryview) -> MessageKind:
    """The kind of ``buffer`` (e.g. to pick a decoder in a consumer reading a mixed topic).

    Raises :class:`CodecError` when bytes 4..8 are none of our file identifiers.
    """
    ident = bytes(buffer[4:8])
    kind = _BY_IDENTIFIER.get(ident) if len(buffer) >= 8 else None
    if kind is None:
        known = ", ".join(f"{k!r} ({v.value})" for k, v in _BY_IDENTIFIER.items())
        raise CodecError(
            f"identifying a FlatBuffers message: expected a file identifier among {known} at "
            f"bytes 4..8, found {ident!r} in a {len(buffer)}-byte message"
        )
    return kind
