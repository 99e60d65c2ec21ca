"""TensorFlow models for churn and upsell: the model contract, kinds (MLP, logistic baseline),
labelled sets, training, evaluation, tuning, the registry and batched scoring with fallback.

Import from the modules (:mod:`models.registry`, :mod:`models.training`, :mod:`models.serving`,
...): this package re-exports nothing, so importing one of them (say :mod:`models.errors`) loads
only what that module needs. TensorFlow loads on first use.
"""
