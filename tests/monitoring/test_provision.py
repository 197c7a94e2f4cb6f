"""``otel-friction provision`` against a small real HTTP server implementing the Grafana API endpoints it uses.

The server keeps folders, dashboards, rule groups, teams and folder permissions in memory (with Grafana's semantics:
dashboard versions, permission POST replacing the whole list, 404 for unknown resources) and records every request."""

from __future__ import annotations

import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from collector_plugin.cli import main
from collector_plugin.monitoring import dashboards, rules

TOKEN = "glsa_test_token"


class FakeGrafana:
    def __init__(self):
        self.requests: list[tuple[str, str]] = []
        self.folders: dict[str, dict] = {}
        self.dashboards: dict[str, dict] = {}
        self.rule_groups: dict[tuple[str, str], dict] = {}
        self.teams: dict[int, dict] = {1: {"id": 1, "name": "existing-team"}}
        self.permissions: dict[str, list[dict]] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status: int, body) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                url = urlparse(self.path)
                fake.requests.append((method, url.path))
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._reply(401, {"message": "Unauthorized"})
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                status, out = fake.route(method, url.path, parse_qs(url.query), body)
                self._reply(status, out)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_PUT(self):
                self._handle("PUT")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def route(self, method, path, query, body):
        nf = (404, {"message": "not found"})
        if m := re.fullmatch(r"/api/folders/([^/]+)/permissions", path):
            uid = m.group(1)
            if uid not in self.folders:
                return nf
            if method == "GET":
                return 200, [{**i, "uid": uid, "inherited": False} for i in self.permissions.get(uid, [])]
            self.permissions[uid] = list(body["items"])  # replaces the whole list
            return 200, {"message": "Folder permissions updated"}
        if m := re.fullmatch(r"/api/folders/([^/]+)", path):
            return (200, self.folders[m.group(1)]) if m.group(1) in self.folders else nf
        if path == "/api/folders" and method == "POST":
            if body["uid"] in self.folders:
                return 409, {"message": "folder exists"}
            self.folders[body["uid"]] = {"uid": body["uid"], "title": body["title"], "id": len(self.folders) + 1}
            self.permissions[body["uid"]] = [{"role": "Viewer", "permission": 1}, {"role": "Editor", "permission": 2}]
            return 200, self.folders[body["uid"]]
        if m := re.fullmatch(r"/api/dashboards/uid/([^/]+)", path):
            return (200, self.dashboards[m.group(1)]) if m.group(1) in self.dashboards else nf
        if path == "/api/dashboards/db" and method == "POST":
            dash, folder = dict(body["dashboard"]), body["folderUid"]
            if folder not in self.folders:
                return 400, {"message": "folder not found"}
            old = self.dashboards.get(dash["uid"])
            dash["version"] = (old["dashboard"]["version"] + 1) if old else 1
            dash["id"] = old["dashboard"]["id"] if old else len(self.dashboards) + 100
            self.dashboards[dash["uid"]] = {"dashboard": dash, "meta": {"folderUid": folder, "version": dash["version"]}}
            return 200, {"uid": dash["uid"], "version": dash["version"], "status": "success"}
        if m := re.fullmatch(r"/api/v1/provisioning/folder/([^/]+)/rule-groups/([^/]+)", path):
            key = (m.group(1), m.group(2))
            if method == "GET":
                return (200, self.rule_groups[key]) if key in self.rule_groups else nf
            if key[0] not in self.folders:
                return 400, {"message": "folder not found"}
            self.rule_groups[key] = {**body, "rules": [{**r, "id": i, "updated": "2026-01-01T00:00:00Z", "provenance": "api"}
                                                       for i, r in enumerate(body["rules"])]}
            return 200, self.rule_groups[key]
        if path == "/api/teams/search":
            name = query.get("name", [None])[0]
            teams = [t for t in self.teams.values() if t["name"] == name]
            return 200, {"totalCount": len(teams), "teams": teams, "page": 1, "perPage": 1000}
        if path == "/api/teams" and method == "POST":
            tid = max(self.teams) + 1
            self.teams[tid] = {"id": tid, "name": body["name"]}
            return 200, {"message": "Team created", "teamId": tid}
        return nf

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def grafana():
    g = FakeGrafana()
    yield g
    g.close()


def run(grafana, capsys, *extra):
    grafana.requests.clear()
    assert main(["provision", "--grafana-url", grafana.url, "--token", TOKEN, "--team", "checkout-oncall", *extra]) == 0
    return capsys.readouterr().out


def test_provision_creates_everything_then_is_idempotent(grafana, capsys):
    out = run(grafana, capsys)
    first = list(grafana.requests)
    assert "team checkout-oncall: created" in out
    assert set(grafana.folders) == {"otel-friction", "otel-friction-sessions"}
    assert {uid: d["meta"]["folderUid"] for uid, d in grafana.dashboards.items()} == {
        dashboards.render(n)["uid"]: dashboards.FOLDERS[n] for n in dashboards.DASHBOARDS}
    assert grafana.dashboards[dashboards.SESSION_UID]["meta"]["folderUid"] == "otel-friction-sessions"
    names = {g["name"] for g in rules.grafana_rules()["groups"]}
    assert {k[1] for k in grafana.rule_groups} == names
    provisioned = [r for g in grafana.rule_groups.values() for r in g["rules"]]
    assert {r["title"] for r in provisioned} == {a.name for a in rules.alerts()}
    assert all(r["folderUID"] == "otel-friction" and r["data"][0]["datasourceUid"] == "prometheus" for r in provisioned)
    assert grafana.rule_groups[("otel-friction", "otel-friction-friction")]["interval"] == 60

    team_id = next(t["id"] for t in grafana.teams.values() if t["name"] == "checkout-oncall")
    assert grafana.permissions["otel-friction"] == [{"role": "Viewer", "permission": 1}, {"role": "Editor", "permission": 2}]
    assert grafana.permissions["otel-friction-sessions"] == [{"teamId": team_id, "permission": 1}]

    versions = {uid: d["dashboard"]["version"] for uid, d in grafana.dashboards.items()}
    out = run(grafana, capsys)
    assert out.strip() == "Grafana already up to date"
    assert all(method == "GET" for method, _ in grafana.requests), grafana.requests
    assert {uid: d["dashboard"]["version"] for uid, d in grafana.dashboards.items()} == versions
    # Third run: the same requests as the second (nothing drifts).
    second = list(grafana.requests)
    run(grafana, capsys)
    assert grafana.requests == second
    assert len(first) > len(second)


def test_provision_repairs_drift(grafana, capsys):
    run(grafana, capsys)
    grafana.permissions["otel-friction-sessions"].append({"role": "Viewer", "permission": 1})  # someone opened it up
    grafana.dashboards["otel-friction-overview"]["dashboard"]["title"] = "edited by hand"
    out = run(grafana, capsys)
    assert out.split("\n")[:2] == ["dashboard otel-friction-overview: updated", "folder otel-friction-sessions: permissions set"]
    posts = [r for r in grafana.requests if r[0] != "GET"]
    assert posts == [("POST", "/api/dashboards/db"), ("POST", "/api/folders/otel-friction-sessions/permissions")]
    assert {"role": "Viewer", "permission": 1} not in grafana.permissions["otel-friction-sessions"]


def test_provision_writes_the_deployment_urls(grafana, capsys):
    """The on-call's links lead to this deployment: the report and runbooks where it publishes them, its Grafana."""
    report, runbooks = "https://friction.example.com/report", "https://wiki.example.com/runbooks"
    run(grafana, capsys, "--report-url", report, "--runbook-base-url", runbooks + "/")
    variables = grafana.dashboards["otel-friction-overview"]["dashboard"]["templating"]["list"]
    assert next(v for v in variables if v["name"] == "report_url")["query"] == report
    provisioned = {r["title"]: r["annotations"] for g in grafana.rule_groups.values() for r in g["rules"]}
    assert provisioned["RumRageClickRateHigh"]["report_url"] == report
    assert provisioned["RumRageClickRateHigh"]["runbook_url"] == runbooks + "/RumRageClickRateHigh.md"
    assert provisioned["RumRageClickRateHigh"]["dashboard_url"].startswith(grafana.url + "/d/otel-friction-friction")


def test_provision_needs_a_token(grafana, capsys, monkeypatch):
    monkeypatch.delenv("GRAFANA_TOKEN", raising=False)
    assert main(["provision", "--grafana-url", grafana.url]) == 2


def test_a_wrong_token_or_an_unreachable_grafana_is_a_clear_error(grafana, capsys):
    assert main(["provision", "--grafana-url", grafana.url, "--token", "wrong"]) == 1
    err = capsys.readouterr().err
    assert f"provisioning Grafana at {grafana.url} failed" in err and "Unauthorized" in err
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["provision", "--grafana-url", f"http://127.0.0.1:{port}", "--token", TOKEN]) == 1
    assert "provisioning Grafana at http://127.0.0.1:" in capsys.readouterr().err
