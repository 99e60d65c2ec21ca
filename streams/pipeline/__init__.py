"""The stream pipeline: batches of input records -> dead letters, scores, snapshots.

Where a batch goes, module by module:

- :mod:`.consume`: librdkafka's consumer in the worker group, whole batches, rebalance hooks;
- :mod:`.processor`: :class:`BatchProcessor`, parse -> featurise -> score -> encode (no Kafka),
  scoring with a :class:`streams.scoring.ModelSet` (the served models and their feature pipeline);
- :mod:`.transactions`: the worker's one producer and how its writes commit (exactly-once v2);
- :mod:`.state`: per-partition window-state stores and their changelog;
- :mod:`.loop`: the batch loop tying them together;
- :mod:`.worker`: the Faust app around it; :mod:`.telemetry`: the metrics.
"""

from streams.pipeline.processor import BatchProcessor, records_from_values
from streams.pipeline.records import SourceRecords

__all__ = [
    "BatchProcessor",
    "SourceRecords",
    "records_from_values",
]
