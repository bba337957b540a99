"""Measurements: metrics, evaluation runs, model cards and benchmarks."""
