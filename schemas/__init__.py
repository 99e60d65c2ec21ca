"""Data contracts: FlatBuffers output schemas, input event schemas, Arrow schemas.

The ``.fbs`` files next to this module are the source of truth for what leaves streamscore;
``schemas.generated`` is their committed flatc output (regenerate with ``make schemas``).
The codecs below are what the pipeline calls.
"""

from schemas.codec import (
    decode_score_batch,
    decode_score_result,
    decode_score_results,
    encode_score_batch,
    encode_score_results,
)
from schemas.columns import SCORE_FIELDS, ScoreColumns
from schemas.deadletter import (
    DeadLetter,
    DeadLetterStage,
    cap_dead_letter,
    decode_dead_letter,
    encode_dead_letter,
)
from schemas.errors import CodecError
from schemas.kinds import MessageKind, message_kind

__all__ = [
    "SCORE_FIELDS",
    "CodecError",
    "DeadLetter",
    "DeadLetterStage",
    "MessageKind",
    "ScoreColumns",
    "cap_dead_letter",
    "decode_dead_letter",
    "decode_score_batch",
    "decode_score_result",
    "decode_score_results",
    "encode_dead_letter",
    "encode_score_batch",
    "encode_score_results",
    "message_kind",
]
