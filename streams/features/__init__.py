"""The declarative feature pipeline (DataVec's TransformProcess idea): a JSON spec of steps,
fitted normalisers, per-entity window state as plain arrays, and a stable fingerprint.

See :mod:`streams.features.pipeline` for the usage pattern and :mod:`streams.features.spec`
for the steps.
"""

from streams.features.defaults import default_spec
from streams.features.errors import FeatureInputError, FeatureSpecError, FingerprintError
from streams.features.pipeline import FeatureBatch, FeaturePipeline, FittedPipeline
from streams.features.spec import FeatureSpec

__all__ = [
    "FeatureBatch",
    "FeatureInputError",
    "FeaturePipeline",
    "FeatureSpec",
    "FeatureSpecError",
    "FingerprintError",
    "FittedPipeline",
    "default_spec",
]
