"""Helpers that several test folders (unit, integration, benchmarks) share."""
