"""Continuous learning: model events and hot swap, retraining from the streams, the gate, drift.

- :mod:`.events`: the model-events topic (codec, publish, read, apply to a registry);
- :mod:`.swap`: :class:`ModelHolder` (the model set, swapped between batches) and the follower
  thread that applies model events;
- :mod:`.join`: point-in-time join of feature snapshots with delayed outcomes;
- :mod:`.retrain`: the stream collector, training sets, one retrain and its gate;
- :mod:`.drift`: feature/score drift (PSI) against the champion's training reference;
- :mod:`.learner`: the leader-only timer tying them together (``add_learning``).
"""

from streams.learning.learner import add_learning
from streams.learning.swap import ModelEventFollower, ModelHolder

__all__ = [
    "ModelEventFollower",
    "ModelHolder",
    "add_learning",
]
