"""Ingest: OTLP bytes in, classified events out (decode → classify)."""
