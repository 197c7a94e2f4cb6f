"""Emit: session-trace spans (built directly as OTLP protobuf) and Prometheus metrics."""
