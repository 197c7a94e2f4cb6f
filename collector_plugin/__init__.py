"""otel-friction: behavioural frontend signals for the OpenTelemetry + Grafana stack."""

__version__ = "0.1.0"
