"""The stream pipeline: micro-batches of input records -> dead letters, scores, snapshots."""

from streams.pipeline.processor import BatchProcessor, records_from_values
from streams.pipeline.records import BatchOutput, SourceRecords
from streams.pipeline.scoring import Features, ModelSet, ScoredBatch, ServedModel

__all__ = [
    "BatchOutput",
    "BatchProcessor",
    "Features",
    "ModelSet",
    "ScoredBatch",
    "ServedModel",
    "SourceRecords",
    "records_from_values",
]
