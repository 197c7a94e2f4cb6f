"""Benchmarks for otel-friction (``python -m benchmarks.run``); see BENCHMARKS.md."""
