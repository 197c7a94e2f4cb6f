"""Monitoring as code: Grafana dashboards and Prometheus / Grafana alert rules, generated from one Python source.

``dashboards.py`` and ``rules.py`` define them, ``build.py`` writes ``dashboards/*.json`` and ``alert_rules/**.yaml``
(``otel-friction build``; ``--check`` fails on stale files), ``provision.py`` pushes them into a Grafana.
"""
