"""TensorFlow models for churn and upsell: training, evaluation, registry, batched scoring."""
