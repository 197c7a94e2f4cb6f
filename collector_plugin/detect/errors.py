"""JS error groups: what each costs the checkout, and which are new in a release.

Checkout impact follows PostHog's funnel correlation: for a group and a funnel step, compare the completion of
sessions that hit the group while at that step with the sessions at the same step that did not, as a smoothed odds
ratio ((s+1)(F−f+1)) / ((S−s+1)(f+1)), ignoring groups whose support is below min(25, 2% of the step's sessions).
Below 1 the error goes with fewer checkouts.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field

from ..events import Event, JsError

ImpactKey = tuple[str, str, str, int]  # service, group, funnel, step index


@dataclass
class GroupStats:
    service: str
    group: str
    type: str
    message: str
    first_seen_ns: int
    first_version: str | None
    new_in_release: str | None
    last_seen_ns: int = 0
    events: int = 0
    sessions: int = 0
    pages: Counter = field(default_factory=Counter)
    example: dict = field(default_factory=dict)  # session_id, trace_id, span_id of the latest occurrence


class ErrorBook:
    def __init__(self, max_groups: int, min_support: int | None, funnel_steps: dict[str, list[str]]):
        self.max_groups = max_groups
        self.min_support = min_support
        self.funnel_steps = funnel_steps
        self.groups: OrderedDict[tuple[str, str], GroupStats] = OrderedDict()
        self.versions: dict[str, list[str]] = {}
        self.reached: Counter = Counter()  # (service, funnel, step) → sessions that reached it
        self.converted: Counter = Counter()  # … and of them converted
        self.exposed: Counter = Counter()  # (service, group, funnel, step) → sessions that hit the group at that step
        self.exposed_converted: Counter = Counter()
        self.forgotten = 0

    # ------------------------------------------------------------------------------------ occurrences

    def occurred(self, e: Event, route: str, trace_id: bytes, span_id: bytes, new_session: bool) -> GroupStats:
        d: JsError = e.detail
        service, version = e.service_name, e.service_version
        seen = self.versions.setdefault(service, [])
        if version and version not in seen:
            seen.append(version)
        key = (service, d.group or "")
        g = self.groups.get(key)
        if g is None:
            # New after the service's version changed: it came with a release.
            new_in = version if version and len(seen) > 1 and version != seen[0] else None
            g = self.groups[key] = GroupStats(service, d.group or "", d.type, d.message[:300], e.time_ns, version, new_in)
            if len(self.groups) > self.max_groups:
                self.groups.popitem(last=False)
                self.forgotten += 1
        self.groups.move_to_end(key)
        g.events += 1
        g.sessions += 1 if new_session else 0
        g.last_seen_ns = max(g.last_seen_ns, e.time_ns)
        g.pages[route] += 1
        g.example = {"session_id": e.session_id, "trace_id": trace_id.hex(), "span_id": span_id.hex()}
        return g

    # ----------------------------------------------------------------------------------------- impact

    def session_ended(self, service: str, furthest: dict[str, int], converted: set[str],
                      exposures: dict[str, dict[str, int]]) -> set[tuple[str, str, int]]:
        """Count one ended session; returns the (service, funnel, step) cells whose ratios changed."""
        touched = set()
        for funnel, step in furthest.items():
            for k in range(step + 1):
                self.reached[(service, funnel, k)] += 1
                self.converted[(service, funnel, k)] += funnel in converted
                touched.add((service, funnel, k))
        for group, at in exposures.items():
            for funnel, k in at.items():
                if k >= 0 and (service, group) in self.groups:
                    self.exposed[(service, group, funnel, k)] += 1
                    self.exposed_converted[(service, group, funnel, k)] += funnel in converted
        return touched

    def odds_ratio(self, key: ImpactKey) -> float | None:
        service, group, funnel, k = key
        total = self.reached[(service, funnel, k)]
        exposed = self.exposed[key]
        need = self.min_support if self.min_support is not None else max(1, min(25, int(0.02 * total)))
        if exposed < need or total == exposed:
            return None
        s = self.exposed_converted[key]
        f = exposed - s
        big_s = self.converted[(service, funnel, k)]
        big_f = total - big_s
        return ((s + 1) * (big_f - f + 1)) / ((big_s - s + 1) * (f + 1))

    def cells(self, touched: set[tuple[str, str, int]]) -> list[tuple[ImpactKey, float]]:
        out = []
        for key in self.exposed:
            if key[:1] + key[2:] in touched:
                ratio = self.odds_ratio(key)
                if ratio is not None:
                    out.append((key, ratio))
        return out

    def table(self) -> list[dict]:
        """Groups ranked by the checkouts they likely cost: exposed sessions × (others' completion − theirs)."""
        rows = []
        for (service, group), g in self.groups.items():
            steps, lost = [], 0.0
            for (sv, gr, funnel, k), exposed in self.exposed.items():
                if (sv, gr) != (service, group):
                    continue
                conv = self.exposed_converted[(sv, gr, funnel, k)]
                others = self.reached[(sv, funnel, k)] - exposed
                others_conv = self.converted[(sv, funnel, k)] - conv
                rate, others_rate = conv / exposed, (others_conv / others if others else None)
                if others_rate is not None:
                    lost += max(0.0, exposed * (others_rate - rate))
                names = self.funnel_steps.get(funnel, [])
                steps.append({"funnel": funnel, "step": names[k] if k < len(names) else str(k), "sessions": exposed,
                              "completion": round(rate, 4), "others_completion": None if others_rate is None else round(others_rate, 4),
                              "odds_ratio": self.odds_ratio((sv, gr, funnel, k))})
            rows.append({"service_name": service, "error_group": group, "type": g.type, "message": g.message, "events": g.events,
                         "sessions": g.sessions, "top_pages": [p for p, _ in g.pages.most_common(3)], "first_seen_ns": g.first_seen_ns,
                         "last_seen_ns": g.last_seen_ns, "first_version": g.first_version, "new_in_release": g.new_in_release,
                         "lost_checkouts": round(lost, 2), "checkout": steps, "example": g.example})
        rows.sort(key=lambda r: (-r["lost_checkouts"], -r["sessions"], -r["events"]))
        return rows
