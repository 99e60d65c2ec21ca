"""The Faust application, topics, CLI, settings and local-Kafka tooling of streamscore."""
