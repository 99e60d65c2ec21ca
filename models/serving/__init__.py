"""Batched inference: engines (tf.function, LiteRT, NumPy), warm-up, fallback chain."""

from models.serving.engines import AGREEMENT, LiteRTEngine, TFFunctionEngine
from models.serving.scorer import FallbackScorer, ModelScorer, ScoreResult

__all__ = [
    "AGREEMENT",
    "FallbackScorer",
    "LiteRTEngine",
    "ModelScorer",
    "ScoreResult",
    "TFFunctionEngine",
]
