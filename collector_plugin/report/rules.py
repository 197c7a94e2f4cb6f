"""Candidate cause and next step for a finding: a small ordered rule table (docs/anomaly-reports.md lists it).

Each rule is (kind, condition name, cause, next step); the first rule whose kind matches and whose condition holds
wins. Conditions read a small context the report builds from stored element counts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Context:
    element: str | None  # the top element (by excess over baseline)
    tag: str  # upper-case tag of the top element, "" if unknown
    interactive: int  # 1 / 0 / -1 unknown
    error_clicks: int  # error-click episodes on the top element in the window
    form_errors: int  # abandonments at the top field that had validation errors
    after_error: int  # drop-offs at the step by sessions that had a JS error
    affected: int


LINKLESS_TAGS = {"IMG", "SVG", "PICTURE", "SPAN", "DIV", "P", "LI", "H1", "H2", "H3", "H4", "TD", "LABEL", "I"}

CONDITIONS = {
    "always": lambda c: True,
    "non_link_element": lambda c: c.interactive == 0 or (c.interactive == -1 and c.tag in LINKLESS_TAGS),
    "followed_by_errors": lambda c: c.error_clicks > 0,
    "validation_errors": lambda c: c.form_errors > 0,
    "mostly_after_errors": lambda c: c.affected > 0 and c.after_error / c.affected >= 0.3,
    "loops": lambda c: (c.element or "").startswith("loop with "),
}

RULES: list[tuple[str, str, str, str]] = [
    ("dead_click", "non_link_element", "a non-link element ({tag}) looks clickable but does nothing",
     "make it a link or remove the affordance"),
    ("dead_click", "always", "the control's click handler does nothing visible (broken, or no feedback)",
     "check the handler; show feedback within 1 s"),
    ("rage_click", "followed_by_errors", "the button throws a JS error when clicked",
     "fix the error the button throws"),
    ("rage_click", "non_link_element", "a non-link element ({tag}) is hammered as if it were a control",
     "make it a link or remove the affordance"),
    ("rage_click", "always", "the control is slow or gives no feedback",
     "make it respond (or show progress) within 1 s"),
    ("form_abandonment", "validation_errors", "the field's validation rejects what users type",
     "relax or explain the validation"),
    ("form_abandonment", "always", "users stop at this field (asks too much, or unclear)",
     "make the field optional or explain why it is needed"),
    ("checkout_dropoff", "mostly_after_errors", "JS errors at this step precede the drop-offs",
     "fix the errors thrown at this step"),
    ("checkout_dropoff", "always", "more users leave at this step than usual (new cost, content or release)",
     "compare the step with the baseline period's release and content"),
    ("error_spike", "always", "a JS error occurs on this page more than usual",
     "fix the top error group; check what the latest release changed"),
    ("dead_scroll", "always", "users read to the bottom and find nothing to do",
     "add a clear next step where readers stop"),
    ("quick_back", "loops", "users go back and forth between this page and another (top element): what they look for is not where they expect it",
     "put what they go back for on this page, or link it where they look"),
    ("quick_back", "always", "the page is not what the link that led here promised",
     "align the link text or preview with the page's content"),
]


def advise(kind: str, ctx: Context) -> tuple[str, str, str]:
    """(cause, next step, rule id)."""
    for k, cond, cause, step in RULES:
        if k == kind and CONDITIONS[cond](ctx):
            return cause.format(tag=ctx.tag.lower() or "element"), step, f"{k}/{cond}"
    return "unexplained change", "look at example sessions", "none"
