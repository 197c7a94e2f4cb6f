"""Tests that run the real OpenTelemetry Collector (a package, so its conftest does not shadow tests/conftest.py)."""
