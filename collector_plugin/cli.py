"""The ``otel-friction`` command: serve, demo, config validate."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from . import __version__
from .config import ConfigError, load_settings
from .log import setup_logging


def _endpoint(value: str) -> str | None:
    return None if value.lower() in ("none", "off", "") else value


def _overrides(args: argparse.Namespace) -> dict:
    o = {}
    for flag, key in (("otlp_http", "server.otlp_http"), ("otlp_grpc", "server.otlp_grpc"), ("metrics", "server.metrics"),
                      ("export_otlp", "export.otlp_endpoint"), ("export_file", "export.file")):
        value = getattr(args, flag, None)
        if value is not None:
            o[key] = _endpoint(value)
    return o


def cmd_serve(args: argparse.Namespace) -> int:
    from .server import Service

    settings = load_settings(args.config, _overrides(args))
    setup_logging(settings.log)
    try:
        clean = asyncio.run(Service(settings).run_until_signalled())
    except OSError as exc:
        print(f"otel-friction: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0 if clean else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args)


def cmd_eval(args: argparse.Namespace) -> int:
    from .demo import _progress, _table
    from .evaluate import run_corpus, score

    settings = load_settings(args.config)
    corpus, spans, _ = run_corpus(args.sessions, args.seed, clean=args.clean, settings=settings,
                                  progress=None if args.json else (lambda d, t: _progress("evaluating batches", d, t)))
    result = score(corpus, spans)
    if args.json:
        print(json.dumps(result))
        return 0
    rows = [(k, f"{v['precision']:.3f}", f"{v['recall']:.3f}", v["support"], v["found"]) for k, v in result.items() if k != "funnel"]
    kind = "clean corpus (no friction injected)" if args.clean else "labelled corpus"
    print(_table(f"Detection on a {kind} of {args.sessions} sessions (seed {args.seed})", rows,
                 ("signal", "precision", "recall", "support", "found")))
    f = result["funnel"]
    print(f"\nFunnel: {f['miscounts']} miscounted sessions of {f['sessions']} ({f['converted']} converted).")
    return 0


def cmd_errors(args: argparse.Namespace) -> int:
    import requests

    from .demo import _table

    settings = load_settings(args.config)
    url = args.url or f"{'https' if settings.server.tls_cert_file else 'http'}://{settings.server.metrics}"
    headers = {"Authorization": f"Bearer {settings.server.auth_token}"} if settings.server.auth_token else {}
    try:
        resp = requests.get(url.rstrip("/") + "/api/errors", headers=headers, timeout=30)
        resp.raise_for_status()
    except requests.RequestException as exc:
        print(f"otel-friction: cannot read the errors table from {url}: {exc}", file=sys.stderr)
        return 1
    groups = resp.json()["groups"][: args.limit]
    if args.json:
        print(json.dumps(groups))
        return 0
    rows = []
    for i, g in enumerate(groups, 1):
        worst = min((s for s in g["checkout"] if s["odds_ratio"] is not None), key=lambda s: s["odds_ratio"], default=None)
        impact = f"{worst['step']}: {worst['completion']:.0%} vs {worst['others_completion']:.0%} (OR {worst['odds_ratio']:.2f})" if worst else "-"
        message = g["message"] if len(g["message"]) <= 48 else g["message"][:45] + "..."
        rows.append((i, g["error_group"], f"{g['type']}: {message}", g["sessions"], impact, g["lost_checkouts"],
                     g["new_in_release"] or "", g["example"].get("session_url", "")))
    print(_table("JS error groups ranked by lost checkouts", rows,
                 ("#", "group", "error", "sessions", "checkout completion (worst step)", "lost", "new in", "example session")))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report.cli import run_report

    return run_report(args)


def cmd_build(args: argparse.Namespace) -> int:
    from .monitoring.build import main as build_main

    return build_main(args)


def cmd_provision(args: argparse.Namespace) -> int:
    from .monitoring.provision import main as provision_main

    return provision_main(args)


def cmd_config_validate(args: argparse.Namespace) -> int:
    settings = load_settings(args.file)
    print(f"{args.file}: valid")
    if args.show:
        shown = settings.model_dump(mode="json")
        if shown["pii"]["hmac_secret"]:
            shown["pii"]["hmac_secret"] = "<set>"
        shown["export"]["otlp_headers"] = {k: "<set>" for k in shown["export"]["otlp_headers"]}
        print(json.dumps(shown, indent=2))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="otel-friction", description="Behavioural frontend signals for OpenTelemetry + Grafana.")
    p.add_argument("--version", action="version", version=f"otel-friction {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def endpoints(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--config", type=Path, help="YAML config file (default: embedded defaults)")
        sp.add_argument("--otlp-http", metavar="HOST:PORT", help="OTLP/HTTP listen address ('none' to disable)")
        sp.add_argument("--otlp-grpc", metavar="HOST:PORT", help="OTLP/gRPC listen address ('none' to disable)")
        sp.add_argument("--metrics", metavar="HOST:PORT", help="/metrics listen address ('none' to disable)")
        sp.add_argument("--export-otlp", metavar="URL", help="OTLP/HTTP base URL for session spans ('none' = don't export)")
        sp.add_argument("--export-file", metavar="PATH", help="also write session spans as OTLP/JSON lines to PATH")

    serve = sub.add_parser("serve", help="run the processor")
    endpoints(serve)
    serve.set_defaults(func=cmd_serve)

    demo = sub.add_parser("demo", help="run the processor on simulated shop traffic and show what it found")
    endpoints(demo)
    demo.add_argument("--sessions", type=int, default=600, help="simulated sessions (default 600)")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--keep-running", action="store_true", help="keep serving /metrics after the summary until Ctrl+C")
    demo.set_defaults(func=cmd_demo)

    ev = sub.add_parser("eval", help="precision and recall of every friction signal on the labelled simulated corpus")
    ev.add_argument("--config", type=Path, help="YAML config file whose detection thresholds to evaluate")
    ev.add_argument("--sessions", type=int, default=2000)
    ev.add_argument("--seed", type=int, default=11)
    ev.add_argument("--clean", action="store_true", help="a corpus with no friction injected: every episode found is a false positive")
    ev.add_argument("--json", action="store_true", help='print {"<signal>": {"precision": p, "recall": r, "support": n}, ...}')
    ev.set_defaults(func=cmd_eval)

    errors = sub.add_parser("errors", help="JS error groups of a running service, ranked by their cost to checkout")
    errors.add_argument("--url", help="the service's metrics address (default: server.metrics from the config)")
    errors.add_argument("--config", type=Path)
    errors.add_argument("--limit", type=int, default=20)
    errors.add_argument("--json", action="store_true")
    errors.set_defaults(func=cmd_errors)

    report = sub.add_parser("report", help="behavioural anomaly report (Markdown, HTML, JSON) from the stored hourly aggregates")
    from .report.cli import add_arguments as report_arguments
    report_arguments(report)
    report.set_defaults(func=cmd_report)

    build = sub.add_parser("build", help="regenerate dashboards/*.json and alert_rules/**.yaml from collector_plugin/monitoring/")
    build.add_argument("--check", action="store_true", help="write nothing; exit 1 if a generated file is stale")
    build.add_argument("--root", type=Path, help="directory to write dashboards/ and alert_rules/ into (default: this checkout)")
    from .monitoring.rules import add_url_arguments
    add_url_arguments(build)
    build.set_defaults(func=cmd_build)

    provision = sub.add_parser("provision", help="create folders, upsert dashboards and alert rules, set folder permissions in Grafana")
    from .monitoring.provision import add_arguments as provision_arguments
    provision_arguments(provision)
    provision.set_defaults(func=cmd_provision)

    config = sub.add_parser("config", help="configuration tools")
    csub = config.add_subparsers(dest="config_command", required=True)
    validate = csub.add_parser("validate", help="check a config file and exit")
    validate.add_argument("file", type=Path)
    validate.add_argument("--show", action="store_true", help="print the effective configuration")
    validate.set_defaults(func=cmd_config_validate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"otel-friction: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
