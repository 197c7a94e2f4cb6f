"""Grafana dashboards, written with the typed builders of grafana-foundation-sdk and generated into dashboards/*.json.

Five dashboards (docs/dashboards.md): Frontend overview, Friction signals, Checkout funnel, JS errors (aggregates,
viewable by every Viewer) and Session (one session's trace from Tempo; raw session ids, restricted to a team).
Every panel reads the data source from a template variable, has a description and a unit, uses ``$__rate_interval``
in rates, and error / friction panels ask for exemplars (trace id → Tempo) and link to the Session dashboard. The
overview's Anomalies table (``rum_anomaly_score``) links to the anomaly report at the ``report_url`` variable.
"""

from __future__ import annotations

import json

from grafana_foundation_sdk.builders import bargauge, stat, table, tempo, timeseries
from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as d
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import DataSourceRef, LegendDisplayMode, LegendPlacement
from grafana_foundation_sdk.models.dashboard import DashboardLinkType, DataTransformerConfig, GridPos, VariableHide, VariableRefresh

from .rules import REPORT_URL

PROM = DataSourceRef(type_val="prometheus", uid="${datasource}")
TEMPO = DataSourceRef(type_val="tempo", uid="${tempo}")
TAG = "otel-friction"
FOLDER_AGGREGATES = "otel-friction"
FOLDER_SESSIONS = "otel-friction-sessions"
SESSION_UID = "otel-friction-session"

SVC = 'service_name=~"$service"'
PAGE = f'{SVC},page=~"$page"'
DEV = 'device=~"$device"'
PAGE_DEV = f'{PAGE},{DEV}'
SEG = 'device=~"$device",visitor=~"$visitor",source=~"$source"'
RI = "[$__rate_interval]"
RANGE = "[$__range]"
FRICTION_CLICKS = ("rage_clicks", "dead_clicks", "error_clicks")
FRICTION_ALL = FRICTION_CLICKS + ("excessive_scrolls", "dead_scrolls", "quick_backs", "confusion_loops")


def friction_sum(signals: tuple[str, ...], sel: str, window: str, by: str = "page", fn: str = "rate") -> str:
    """Sum of several rum_<signal>_total counters. Each term gets a ``signal`` label first: rate() drops the metric
    name, and Prometheus 2 rejects a vector with duplicate label sets (so no ``{__name__=~...}`` shortcut)."""
    terms = [f'label_replace(sum by ({by}) ({fn}(rum_{s}_total{{{sel}}}{window})), "signal", "{s}", "", "")' for s in signals]
    return f"sum by ({by}) ({' or '.join(terms)})"


class _Layout:
    """Places panels left to right, 24 columns wide."""

    def __init__(self) -> None:
        self.x = self.y = self.row_h = 0

    def __call__(self, w: int, h: int) -> GridPos:
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        pos = GridPos(h=h, w=w, x=self.x, y=self.y)
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos

    def row(self) -> GridPos:
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        pos = GridPos(h=1, w=24, x=0, y=self.y)
        self.y += 1
        return pos


def q(expr: str, legend: str = "", ref: str = "A", *, exemplar: bool = False, instant: bool = False) -> prom.Dataquery:
    b = prom.Dataquery().expr(expr).ref_id(ref).legend_format(legend or "__auto")
    if instant:
        b = b.instant().format("table")
    else:
        b = b.range()
    return b.exemplar(exemplar)


def session_link(title: str, params: str) -> d.DashboardLink:
    return d.DashboardLink(title).type(DashboardLinkType.LINK).url(f"/d/{SESSION_UID}?{params}&${{__url_time_range}}").target_blank(True)


def tempo_explore_link(title: str, traceql: str) -> d.DashboardLink:
    left = json.dumps({"datasource": "${tempo}", "queries": [{"refId": "A", "queryType": "traceql", "query": traceql}],
                       "range": {"from": "${__from}", "to": "${__to}"}}, separators=(",", ":"))
    return d.DashboardLink(title).type(DashboardLinkType.LINK).url(f"/explore?left={left}").target_blank(True)


def _legend():
    return common_b.VizLegendOptions().show_legend(True).display_mode(LegendDisplayMode.TABLE).placement(LegendPlacement.RIGHT).calcs(["mean", "max"])


def ts(lay: _Layout, title: str, desc: str, unit: str, *targets: prom.Dataquery, links=(), w: int = 12, h: int = 8) -> timeseries.Panel:
    p = (timeseries.Panel().title(title).description(desc).unit(unit).datasource(PROM).grid_pos(lay(w, h))
         .legend(_legend()).fill_opacity(10).line_width(1))
    for t in targets:
        p = p.with_target(t)
    if links:
        p = p.data_links(list(links))
    return p


def st(lay: _Layout, title: str, desc: str, unit: str, target: prom.Dataquery, w: int = 6, h: int = 4) -> stat.Panel:
    return stat.Panel().title(title).description(desc).unit(unit).datasource(PROM).grid_pos(lay(w, h)).with_target(target)


def tb(lay: _Layout, title: str, desc: str, unit: str, target: prom.Dataquery, links=(), w: int = 12, h: int = 8) -> table.Panel:
    p = (table.Panel().title(title).description(desc).unit(unit).datasource(PROM).grid_pos(lay(w, h)).with_target(target)
         .with_transformation(DataTransformerConfig(id_val="organize", options={"excludeByName": {"Time": True}})))
    if links:
        p = p.data_links(list(links))
    return p


def bars(lay: _Layout, title: str, desc: str, unit: str, target: prom.Dataquery, w: int = 12, h: int = 8) -> bargauge.Panel:
    return bargauge.Panel().title(title).description(desc).unit(unit).datasource(PROM).grid_pos(lay(w, h)).with_target(target)


def _var(name: str, label: str, query: str) -> d.QueryVariable:
    return (d.QueryVariable(name).label(label).datasource(PROM).query(query).include_all(True).multi(True).all_value(".*")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).sort(1))


def _base(uid: str, title: str, description: str, variables: tuple[str, ...]) -> d.Dashboard:
    b = (d.Dashboard(title).uid(uid).description(description).tags([TAG]).refresh("1m").time("now-6h", "now")
         .timezone("browser").editable()
         .link(d.DashboardLink("otel-friction dashboards").type(DashboardLinkType.DASHBOARDS).tags([TAG]).as_dropdown(True)
               .include_vars(True).keep_time(True))
         .with_variable(d.DatasourceVariable("datasource").label("Prometheus").type("prometheus")))
    qs = {
        "service": ("App", "label_values(rum_page_views_total, service_name)"),
        "page": ("Page", 'label_values(rum_page_views_total{service_name=~"$service"}, page)'),
        "device": ("Device", "label_values(rum_sessions_started_total, device)"),
        "visitor": ("Visitor", "label_values(rum_sessions_started_total, visitor)"),
        "source": ("Source", "label_values(rum_sessions_started_total, source)"),
        "funnel": ("Funnel", "label_values(rum_funnel_step_reached_total, funnel)"),
    }
    for v in variables:
        b = b.with_variable(_var(v, *qs[v]))
    return b.with_variable(d.DatasourceVariable("tempo").label("Tempo").type("tempo"))


def report_url_variable(url: str) -> d.TextBoxVariable:
    """The anomaly report's URL as Grafana users reach it (otel-friction's metrics port, ``GET /report``). Hidden; its
    default comes from ``otel-friction build/provision --report-url``, and ``var-report_url=...`` in a dashboard URL
    overrides it."""
    return (d.TextBoxVariable("report_url").label("Anomaly report URL").default_value(url).hide(VariableHide.HIDE_VARIABLE)
            .description("otel-friction's anomaly report page: GET /report on its metrics port (docs/anomaly-reports.md)"))


def report_link(title: str = "Open the anomaly report (cause, next step, heatmaps)") -> d.DashboardLink:
    return d.DashboardLink(title).type(DashboardLinkType.LINK).url("${report_url}").target_blank(True)


def anomalies(lay: _Layout, w: int = 24, h: int = 8) -> table.Panel:
    """Current findings of the anomaly report, strongest first; every row and the panel header link to the report."""
    expr = f"sort_desc(max by (service_name, page, kind, segment) (rum_anomaly_score{{{PAGE}}}))"
    organize = {"excludeByName": {"Time": True}, "renameByName": {"Value": "score", "service_name": "app"},
                "indexByName": {"page": 0, "kind": 1, "segment": 2, "Value": 3, "service_name": 4}}
    return (table.Panel().title("Anomalies")
            .description("Findings of otel-friction's latest anomaly report (docs/anomaly-reports.md): a page, kind (rage_click, "
                         "dead_click, checkout_dropoff, error_spike, ...) and segment (all, device=mobile, ...) whose share of "
                         "affected sessions rose significantly against the same hours of previous days. Score = -log10 of the "
                         "finding's q value (2 = q 0.01; higher is stronger evidence). Empty when nothing changed. The report "
                         "(link) has the candidate cause, next step and click heatmaps.")
            .unit("none").decimals(1).datasource(PROM).grid_pos(lay(w, h))
            .with_target(q(expr, instant=True))
            .with_transformation(DataTransformerConfig(id_val="organize", options=organize))
            .sort_by([common_b.TableSortByFieldState().display_name("score").desc(True)])
            .links([report_link("Anomaly report")])
            .data_links([report_link()]))


def overview(report_url: str = REPORT_URL) -> d.Dashboard:
    lay = _Layout()
    b = _base("otel-friction-overview", "Frontend overview",
              "Sessions, page views, JS errors and friction of the browser apps, from otel-friction's rum_* metrics.",
              ("service", "page", "device", "visitor", "source"))
    b = b.with_variable(report_url_variable(report_url)).link(report_link("Anomaly report"))
    b = b.with_row(d.Row("Traffic").grid_pos(lay.row()))
    b = b.with_panel(st(lay, "Sessions", "Browser sessions started in the selected time range.", "short",
                        q(f"sum(increase(rum_sessions_started_total{{{SVC},{SEG}}}{RANGE}))", instant=True)))
    b = b.with_panel(st(lay, "Page views", "Page views (full loads and SPA route changes) in the selected time range.", "short",
                        q(f"sum(increase(rum_page_views_total{{{PAGE_DEV}}}{RANGE}))", instant=True)))
    b = b.with_panel(st(lay, "JS errors per 1,000 page views", "JavaScript errors per 1,000 page views over the selected time range.", "short",
                        q(f"1000 * sum(increase(rum_js_errors_total{{{PAGE}}}{RANGE})) / sum(increase(rum_page_views_total{{{PAGE}}}{RANGE}))", instant=True)))
    b = b.with_panel(st(lay, "Friction per 1,000 page views", "Friction episodes (rage, dead and error clicks, scroll, quick backs, loops) per 1,000 page views.", "short",
                        q(f"1000 * {friction_sum(FRICTION_ALL, PAGE_DEV, RANGE, by='service_name', fn='increase')} / sum by (service_name) (increase(rum_page_views_total{{{PAGE_DEV}}}{RANGE}))", instant=True)))
    b = b.with_panel(ts(lay, "Sessions started by device", "New browser sessions per second, by device.", "ops",
                        q(f"sum by (device) (rate(rum_sessions_started_total{{{SVC},{SEG}}}{RI}))", "{{device}}")))
    b = b.with_panel(ts(lay, "Sessions started by traffic source", "New browser sessions per second, by traffic source.", "ops",
                        q(f"sum by (source) (rate(rum_sessions_started_total{{{SVC},{SEG}}}{RI}))", "{{source}}")))
    b = b.with_panel(ts(lay, "Page views by page", "Page views per second, by route template.", "ops",
                        q(f"sum by (page) (rate(rum_page_views_total{{{PAGE_DEV}}}{RI}))", "{{page}}")))
    b = b.with_panel(ts(lay, "JS errors per 1,000 page views by page", "Error rate per page. Dots are exemplars: click one to open the session's trace in Tempo.",
                        "short", q(f"1000 * sum by (page) (rate(rum_js_errors_total{{{PAGE}}}{RI})) / sum by (page) (rate(rum_page_views_total{{{PAGE}}}{RI}))", "{{page}}"),
                        q(f"sum by (page) (rate(rum_js_errors_total{{{PAGE}}}{RI}))", "errors/s {{page}}", "B", exemplar=True),
                        links=[session_link("Sessions with friction on ${__field.labels.page}", "var-page=${__field.labels.page}")]))
    b = b.with_row(d.Row("Friction").grid_pos(lay.row()))
    b = b.with_panel(ts(lay, "Friction rate by page", "Friction episodes per 1,000 page views, by page (bots excluded). Exemplars lead to a session.",
                        "short", q(f"1000 * {friction_sum(FRICTION_ALL, PAGE_DEV, RI)} / sum by (page) (rate(rum_page_views_total{{{PAGE_DEV},device!=\"bot\"}}{RI}))", "{{page}}"),
                        q(f"sum by (page) (rate(rum_rage_clicks_total{{{PAGE_DEV}}}{RI}))", "rage clicks/s {{page}}", "B", exemplar=True),
                        links=[session_link("Sessions with friction on ${__field.labels.page}", "var-page=${__field.labels.page}")], w=24))
    b = b.with_row(d.Row("Anomalies").grid_pos(lay.row()))
    b = b.with_panel(anomalies(lay))
    b = b.with_row(d.Row("Pipeline health").grid_pos(lay.row()))
    b = b.with_panel(ts(lay, "Records received", "OTLP records received by otel-friction per second, by signal and format.", "ops",
                        q("sum by (signal, format) (rate(otel_friction_records_received_total" + RI + "))", "{{signal}} {{format}}"), w=8))
    b = b.with_panel(ts(lay, "Records rejected and dropped", "Records refused to the sender (rejected) or not usable (dropped); 0 when none.", "ops",
                        q("sum by (reason) (rate(otel_friction_records_rejected_total" + RI + ")) or vector(0)", "rejected {{reason}}"),
                        q("sum by (reason) (rate(otel_friction_records_dropped_total" + RI + ")) or vector(0)", "dropped {{reason}}", "B"), w=8))
    b = b.with_panel(ts(lay, "Span export failures and drops", "Failed OTLP export attempts and lost session spans; 0 when none.", "ops",
                        q("sum by (destination, reason) (rate(otel_friction_export_failures_total" + RI + ")) or vector(0)", "failures {{destination}} {{reason}}"),
                        q("sum by (destination, reason) (rate(otel_friction_spans_dropped_total" + RI + ")) or vector(0)", "dropped {{destination}} {{reason}}", "B"), w=8))
    return b


def friction() -> d.Dashboard:
    lay = _Layout()
    b = _base("otel-friction-friction", "Friction signals",
              "Rage, dead and error clicks, scroll, quick backs, confusion loops and form abandonment by page and element (docs/signals.md).",
              ("service", "page", "device"))
    link = [session_link("Sessions with friction on ${__field.labels.page}", "var-page=${__field.labels.page}")]
    b = b.with_row(d.Row("Clicks").grid_pos(lay.row()))
    for kind, text in (("rage", "Rage-click episodes (bursts of clicks on one target)"), ("dead", "Dead-click episodes (clicks the page did not react to)"),
                       ("error", "Error-click episodes (a click followed by a JS error)")):
        b = b.with_panel(ts(lay, f"{kind.capitalize()} clicks by page", f"{text} per second, by page. Exemplars open the session in Tempo.", "ops",
                            q(f"sum by (page) (rate(rum_{kind}_clicks_total{{{PAGE_DEV}}}{RI}))", "{{page}}", exemplar=True), links=link, w=8))
    b = b.with_panel(ts(lay, "Friction clicks per 1,000 clicks by page", "Rage, dead and error click episodes per 1,000 clicks: compares pages of different traffic.",
                        "short", q(f"1000 * {friction_sum(FRICTION_CLICKS, PAGE_DEV, RI)} / sum by (page) (rate(rum_clicks_total{{{PAGE_DEV}}}{RI}))", "{{page}}"),
                        links=link, w=24))
    for kind in ("rage", "dead", "error"):
        b = b.with_panel(tb(lay, f"Top {kind}-click elements", f"Elements with the most {kind}-click episodes in the time range (page, CSS selector).", "short",
                            q(f"topk(20, sum by (page, element) (increase(rum_{kind}_clicks_total{{{PAGE_DEV}}}{RANGE})))", instant=True), links=link, w=8))
    b = b.with_row(d.Row("Scroll and navigation").grid_pos(lay.row()))
    b = b.with_panel(ts(lay, "Scroll friction by page", "Excessive scrolling (back and forth) and dead scrolls (deep scroll, no interaction) per second.", "ops",
                        q(f"sum by (page) (rate(rum_excessive_scrolls_total{{{PAGE_DEV}}}{RI}))", "excessive {{page}}", exemplar=True),
                        q(f"sum by (page) (rate(rum_dead_scrolls_total{{{PAGE_DEV}}}{RI}))", "dead {{page}}", "B", exemplar=True), links=link))
    b = b.with_panel(ts(lay, "Quick backs and confusion loops by page", "A→B→A within seconds (page is B) and A→B→A→B loops (page is A) per second.", "ops",
                        q(f"sum by (page) (rate(rum_quick_backs_total{{{PAGE_DEV}}}{RI}))", "quick back {{page}}", exemplar=True),
                        q(f"sum by (page) (rate(rum_confusion_loops_total{{{PAGE_DEV}}}{RI}))", "loop {{page}}", "B", exemplar=True), links=link))
    b = b.with_row(d.Row("Forms").grid_pos(lay.row()))
    b = b.with_panel(tb(lay, "Form abandonment rate", "Forms begun and not submitted, as a share of forms begun, by page and form.", "percentunit",
                        q(f"sum by (page, form) (increase(rum_form_abandonments_total{{{PAGE}}}{RANGE})) / sum by (page, form) (increase(rum_form_starts_total{{{PAGE}}}{RANGE}))", instant=True)))
    b = b.with_panel(tb(lay, "Abandoned forms by last field", "The field visitors touched last before abandoning a form.", "short",
                        q(f"topk(20, sum by (page, form, last_field) (increase(rum_form_abandonments_total{{{PAGE}}}{RANGE})))", instant=True)))
    b = b.with_panel(ts(lay, "Form abandonments over time", "Forms abandoned per second, by page and form.", "ops",
                        q(f"sum by (page, form) (rate(rum_form_abandonments_total{{{PAGE}}}{RI}))", "{{page}} {{form}}", exemplar=True), links=link, w=24))
    return b


def funnel() -> d.Dashboard:
    lay = _Layout()
    b = _base("otel-friction-funnel", "Checkout funnel",
              "Step conversion and drop-off by step and segment, and the drop-offs that followed a JS error.",
              ("service", "funnel", "device", "visitor", "source"))
    f = f'{SVC},funnel=~"$funnel",{SEG}'
    entered = f"max by (funnel) (sum by (funnel, step) (increase(rum_funnel_step_reached_total{{{f}}}{RANGE})))"
    b = b.with_row(d.Row("Conversion").grid_pos(lay.row()))
    b = b.with_panel(st(lay, "Conversion rate", "Sessions that reached the funnel's last step / sessions that entered it (its first step).", "percentunit",
                        q(f"sum by (funnel) (increase(rum_funnel_conversions_total{{{f}}}{RANGE})) / {entered}", "{{funnel}}", instant=True)))
    b = b.with_panel(st(lay, "Conversions", "Sessions that reached the funnel's last step in the time range.", "short",
                        q(f"sum by (funnel) (increase(rum_funnel_conversions_total{{{f}}}{RANGE}))", "{{funnel}}", instant=True)))
    b = b.with_panel(st(lay, "Median time to convert", "Median time from the funnel's first step to its last.", "s",
                        q(f'histogram_quantile(0.5, sum by (le) (increase(rum_funnel_conversion_duration_seconds_bucket{{{SVC},funnel=~"$funnel"}}{RANGE})))', instant=True)))
    b = b.with_panel(st(lay, "Drop-offs after a JS error", "Share of funnel drop-offs in sessions that had a JS error.", "percentunit",
                        q(f"sum(increase(rum_funnel_dropoffs_after_error_total{{{f}}}{RANGE})) / sum(increase(rum_funnel_dropoffs_total{{{f}}}{RANGE}))", instant=True)))
    b = b.with_panel(bars(lay, "Sessions reaching each step", "Sessions that reached each step, in order, over the time range.", "short",
                          q(f"sum by (step) (increase(rum_funnel_step_reached_total{{{f}}}{RANGE}))", "{{step}}", instant=True)))
    b = b.with_panel(bars(lay, "Drop-off ratio by step", "Sessions that ended at a step without reaching the next / sessions that reached it.", "percentunit",
                          q(f"sum by (step) (increase(rum_funnel_dropoffs_total{{{f}}}{RANGE})) / sum by (step) (increase(rum_funnel_step_reached_total{{{f}}}{RANGE}))", "{{step}}", instant=True)))
    b = b.with_row(d.Row("Drop-off by segment").grid_pos(lay.row()))
    b = b.with_panel(ts(lay, "Drop-offs by step", "Sessions leaving the funnel per second, by the step they left at. Exemplars open a session that left.", "ops",
                        q(f"sum by (step) (rate(rum_funnel_dropoffs_total{{{f}}}{RI}))", "{{step}}", exemplar=True),
                        links=[session_link("Open session dashboard", "var-page=/checkout.*")]))
    b = b.with_panel(ts(lay, "Conversions over time", "Sessions reaching the funnel's last step per second.", "ops",
                        q(f"sum by (funnel) (rate(rum_funnel_conversions_total{{{f}}}{RI}))", "{{funnel}}", exemplar=True)))
    for seg in ("device", "source", "visitor"):
        b = b.with_panel(tb(lay, f"Drop-off ratio by step and {seg}", f"Drop-off ratio per step for each {seg}: which segment leaves where.", "percentunit",
                            q(f"sum by (step, {seg}) (increase(rum_funnel_dropoffs_total{{{f}}}{RANGE})) / sum by (step, {seg}) (increase(rum_funnel_step_reached_total{{{f}}}{RANGE}))", instant=True), w=8))
    b = b.with_row(d.Row("Drop-offs after JS errors").grid_pos(lay.row()))
    b = b.with_panel(ts(lay, "Drop-offs after a JS error by step", "Funnel drop-offs of sessions that had a JS error, by step. Exemplars open such a session.", "ops",
                        q(f"sum by (step) (rate(rum_funnel_dropoffs_after_error_total{{{f}}}{RI}))", "{{step}}", exemplar=True),
                        links=[session_link("Open session dashboard", "var-page=/checkout.*")]))
    b = b.with_panel(bars(lay, "Share of drop-offs after a JS error by step", "Drop-offs after a JS error / all drop-offs, per step.", "percentunit",
                          q(f"sum by (step) (increase(rum_funnel_dropoffs_after_error_total{{{f}}}{RANGE})) / sum by (step) (increase(rum_funnel_dropoffs_total{{{f}}}{RANGE}))", "{{step}}", instant=True)))
    return b


def js_errors() -> d.Dashboard:
    lay = _Layout()
    b = _base("otel-friction-js-errors", "JS errors",
              "JavaScript errors by page and type, error groups ranked by their impact on checkout, with links to sessions (docs/errors.md).",
              ("service", "page"))
    group_links = [session_link("Sessions with error group ${__data.fields.error_group}", "var-error_group=${__data.fields.error_group}"),
                   tempo_explore_link("Search error group in Tempo", '{ span.rum.error.group = "${__data.fields.error_group}" }')]
    b = b.with_row(d.Row("Error groups").grid_pos(lay.row()))
    b = b.with_panel(tb(lay, "Error groups ranked by checkout impact",
                        "Smoothed odds ratio of completing checkout for sessions that hit the group at a step vs the others at that step; "
                        "lowest first (< 1 = fewer checkouts). Absent below the minimum support.", "none",
                        q(f'sort(min by (error_group, funnel, step) (rum_error_group_checkout_impact{{{SVC}}}))', instant=True), links=group_links))
    b = b.with_panel(tb(lay, "Sessions per error group", "Sessions that hit each error group in the time range (once per session).", "short",
                        q(f"topk(20, sum by (error_group) (increase(rum_error_group_sessions_total{{{SVC}}}{RANGE})))", instant=True), links=group_links))
    b = b.with_panel(ts(lay, "Sessions hitting error groups", "Sessions per second that hit each of the top error groups. Exemplars open one of them.", "ops",
                        q(f"topk(10, sum by (error_group) (rate(rum_error_group_sessions_total{{{SVC}}}{RI})))", "{{error_group}}", exemplar=True),
                        links=[session_link("Sessions with error group ${__field.labels.error_group}", "var-error_group=${__field.labels.error_group}")], w=24))
    b = b.with_row(d.Row("Errors by page and type").grid_pos(lay.row()))
    link = [session_link("Sessions with errors on ${__field.labels.page}", "var-page=${__field.labels.page}")]
    b = b.with_panel(ts(lay, "JS errors by page", "JavaScript errors per second, by page. Exemplars open the session's trace.", "ops",
                        q(f"sum by (page) (rate(rum_js_errors_total{{{PAGE}}}{RI}))", "{{page}}", exemplar=True), links=link))
    b = b.with_panel(ts(lay, "JS errors by type", "JavaScript errors per second, by exception type.", "ops",
                        q(f"sum by (error_type) (rate(rum_js_errors_total{{{PAGE}}}{RI}))", "{{error_type}}", exemplar=True), links=link))
    b = b.with_panel(tb(lay, "Top errors on checkout pages", "Error types on /cart and /checkout/* in the time range.", "short",
                        q(f'topk(20, sum by (page, error_type) (increase(rum_js_errors_total{{{SVC},page=~"/cart|/checkout.*"}}{RANGE})))', instant=True), links=link))
    b = b.with_panel(ts(lay, "JS errors per 1,000 page views", "Error rate per page, normalised by traffic.", "short",
                        q(f"1000 * sum by (page) (rate(rum_js_errors_total{{{PAGE}}}{RI})) / sum by (page) (rate(rum_page_views_total{{{PAGE}}}{RI}))", "{{page}}")))
    return b


def session() -> d.Dashboard:
    """One session's timeline from Tempo. Raw session ids: provisioned into a folder restricted to a team."""
    lay = _Layout()
    b = (d.Dashboard("Session").uid(SESSION_UID).description("One browser session's trace (page views, clicks, errors, friction spans) from Tempo.")
         .tags([TAG, "sessions"]).time("now-24h", "now").timezone("browser").editable()
         .link(d.DashboardLink("otel-friction dashboards").type(DashboardLinkType.DASHBOARDS).tags([TAG]).as_dropdown(True).keep_time(True))
         .with_variable(d.DatasourceVariable("tempo").label("Tempo").type("tempo"))
         .with_variable(d.TextBoxVariable("session_id").label("Session id").description("the browser SDK's session.id"))
         .with_variable(d.TextBoxVariable("page").label("Page (regex)").default_value(".*"))
         .with_variable(d.TextBoxVariable("error_group").label("Error group").default_value(".*")))

    def tq(query: str, *, limit: int = 20) -> tempo.Dataquery:
        return tempo.Dataquery().ref_id("A").query_type("traceql").query(query).limit(limit)

    def panel(kind: str, title: str, desc: str, query: str, w: int, h: int):
        return (d.Panel().type(kind).title(title).description(desc).unit("none").datasource(TEMPO).grid_pos(lay(w, h))
                .with_target(tq(query)))

    b = b.with_panel(panel("traces", "Session timeline", "The session's trace: root span, page views, clicks, errors and friction episodes.",
                           '{ span.session.id = "$session_id" }', 24, 16))
    b = b.with_panel(panel("table", "Sessions with friction on the page", "Recent sessions with a rage, dead or error click, or an exception, on pages matching $page.",
                           '{ span.url.template =~ "$page" && name =~ "rage_click|dead_click|error_click|exception" }', 12, 10))
    b = b.with_panel(panel("table", "Sessions with the error group", "Recent sessions that hit the error group $error_group.",
                           '{ span.rum.error.group =~ "$error_group" }', 12, 10))
    return b


DASHBOARDS = {"overview": overview, "friction": friction, "funnel": funnel, "js-errors": js_errors, "session": session}
FOLDERS = {"overview": FOLDER_AGGREGATES, "friction": FOLDER_AGGREGATES, "funnel": FOLDER_AGGREGATES, "js-errors": FOLDER_AGGREGATES,
           "session": FOLDER_SESSIONS}


def render(name: str, report_url: str = REPORT_URL) -> dict:
    """The dashboard as the plain JSON model Grafana stores. ``report_url`` is where the overview's report links point
    (the other dashboards have none)."""
    dash = overview(report_url) if name == "overview" else DASHBOARDS[name]()
    return json.loads(json.dumps(dash.build(), cls=JSONEncoder))
