"""``otel-friction provision``: push the generated dashboards and Grafana-managed alert rules into a Grafana.

Idempotent: every resource is read first and written only when it differs, so a second run issues only GETs.

- Folders ``otel-friction`` (aggregate dashboards) and ``otel-friction-sessions`` (the Session dashboard, which shows
  raw session ids).
- Dashboards upserted with ``POST /api/dashboards/db`` (``overwrite: true``) into their folder.
- Alert rules as whole rule groups (``PUT /api/v1/provisioning/folder/<uid>/rule-groups/<group>``), so the group's
  evaluation interval is set with them. Contact points and the notification policy tree are left alone: the policy
  tree is one resource and a PUT would replace every route other teams configured (route with Alertmanager instead,
  examples/alertmanager/).
- Folder permissions: ``POST /api/folders/<uid>/permissions`` replaces the whole list, so the full desired list is sent:
  aggregates viewable by Viewers and editable by Editors; sessions viewable only by one team (Admins keep access).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field

from .rules import add_url_arguments, url_params

VIEW, EDIT = 1, 2
VOLATILE = {"id", "version", "iteration"}


@dataclass
class Plan:
    """What a run did, for the CLI and tests: ``changes`` empty means Grafana already matched."""

    changes: list[str] = field(default_factory=list)


def _get(call, *args):
    from grafana_client.client import GrafanaClientError

    try:
        return call(*args)
    except GrafanaClientError as exc:
        if exc.status_code == 404:
            return None
        raise


def _subset(want, have) -> bool:
    """``want`` is contained in ``have`` (Grafana adds ids, timestamps and provenance to what it stores)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in VOLATILE or _subset(v, have.get(k)) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(want) == len(have) and all(_subset(a, b) for a, b in zip(want, have))
    return want == have


def _perm_key(items: list[dict]) -> set[tuple]:
    return {(i.get("role") or "", i.get("teamId") or 0, i.get("userId") or 0, i["permission"])
            for i in items if not i.get("inherited")}


def provision(api, *, team: str, params=None) -> Plan:
    """Bring Grafana in line with the generated dashboards, rules and permissions (``params``: rules.RuleParams)."""
    from . import dashboards, rules  # the builders are imported only when provisioning, not for every CLI command

    params = params or rules.RuleParams()
    plan = Plan()
    folders = {dashboards.FOLDER_AGGREGATES: "otel-friction", dashboards.FOLDER_SESSIONS: "otel-friction sessions"}
    for uid, title in folders.items():
        if _get(api.folder.get_folder, uid) is None:
            api.folder.create_folder(title, uid=uid)
            plan.changes.append(f"folder {uid}: created")

    found = api.teams.get_team_by_name(team)
    if found:
        team_id = found[0]["id"]
    else:
        team_id = api.teams.add_team({"name": team})["teamId"]
        plan.changes.append(f"team {team}: created")

    for name in dashboards.DASHBOARDS:
        model = dashboards.render(name, params.report_url)
        folder = dashboards.FOLDERS[name]
        have = _get(api.dashboard.get_dashboard, model["uid"])
        if have and have.get("meta", {}).get("folderUid") == folder and _subset(model, have.get("dashboard")):
            continue
        api.dashboard.update_dashboard({"dashboard": model, "folderUid": folder, "overwrite": True,
                                        "message": "otel-friction provision"})
        plan.changes.append(f"dashboard {model['uid']}: {'updated' if have else 'created'}")

    doc = rules.grafana_rules(params)
    for g in doc["groups"]:
        folder = dashboards.FOLDER_AGGREGATES
        body = {"title": g["name"], "folderUid": folder, "interval": rules._seconds(g["interval"]),
                "rules": [{**r, "folderUID": folder, "ruleGroup": g["name"], "orgID": g["orgId"]} for r in g["rules"]]}
        have = _get(api.alertingprovisioning.get_rule_group, folder, g["name"])
        if have and _subset(body, have):
            continue
        api.alertingprovisioning.update_rule_group(folder, g["name"], body)
        plan.changes.append(f"rule group {g['name']}: {'updated' if have else 'created'}")

    wanted = {
        dashboards.FOLDER_AGGREGATES: [{"role": "Viewer", "permission": VIEW}, {"role": "Editor", "permission": EDIT}],
        dashboards.FOLDER_SESSIONS: [{"teamId": team_id, "permission": VIEW}],
    }
    for uid, items in wanted.items():
        have = api.folder.get_folder_permissions(uid)
        if _perm_key(have) != _perm_key(items):
            api.folder.update_folder_permissions(uid, items)
            plan.changes.append(f"folder {uid}: permissions set")
    return plan


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--grafana-url", required=True, help="Grafana base URL, e.g. http://localhost:3000")
    p.add_argument("--token", default=os.environ.get("GRAFANA_TOKEN"),
                   help="service-account token with folder, dashboard, alerting and team rights (default: $GRAFANA_TOKEN)")
    p.add_argument("--team", default="otel-friction-sessions",
                   help="the only team that may view the Session dashboard (created if missing)")
    p.add_argument("--datasource-uid", default="prometheus", help="uid of the Prometheus data source the alert rules query")
    add_url_arguments(p, dashboard_default="--grafana-url")


def main(args: argparse.Namespace) -> int:
    if not args.token:
        print("otel-friction: --token or GRAFANA_TOKEN is required", file=sys.stderr)
        return 2
    from grafana_client import GrafanaApi  # imported here so other CLI commands don't pay for it
    from grafana_client.client import GrafanaException

    api = GrafanaApi.from_url(args.grafana_url, credential=args.token)
    params = url_params(args, args.grafana_url, datasource_uid=args.datasource_uid)
    try:
        plan = provision(api, team=args.team, params=params)
    except (GrafanaException, OSError) as exc:  # OSError: the HTTP client's connection errors derive from it
        # What was done before the failure stays done; running again continues from there (each step reads first).
        print(f"otel-friction: provisioning Grafana at {args.grafana_url} failed: {exc}", file=sys.stderr)
        return 1
    print("\n".join(plan.changes) or "Grafana already up to date")
    return 0
