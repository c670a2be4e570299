"""Every report page and download, timed through the Flask test client.

The routes come from the app's url_map: every rule of the reports, exports and api blueprints
is timed, with each output format its view offers (VARIANTS); a rule without an entry there is
still timed with its bare URL and flagged, so a new route cannot be missed silently. Analysts'
routes are fetched as the demo analyst, respondents' as a demo respondent. Per route: status,
median/min/max over n GETs (a slow route gets fewer: at least one, then up to `runs` or until its
time budget is spent) and the size of the body.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass

from common import stats

BLUEPRINTS = ("reports", "exports", "api")

# Query strings per endpoint: each format or table the view can answer with.
VARIANTS = {
    "reports.dashboard": ["", "?format=csv"],
    "reports.priorities": ["", "?format=csv", "?format=csv&table=ta_demand", "?format=html"],
    "reports.heatmap_page": ["", "?format=csv"],
    "reports.compare": ["", "?format=csv", "?population=all", "?population=all&format=csv"],
    "reports.plotly_js": [""],
    "exports.workbook": [""],
    "exports.build_status": [""],
    "exports.build_progress": [""],
    "exports.build_file": [""],
    "exports.offline_download": [""],
    "exports.offline_upload": [""],
    "api.priorities": ["", "?grouping=global"],
    "api.scores": [""],
}
RESPONDENT_ENDPOINTS = {"exports.offline_download", "exports.offline_upload"}
# What a POST does is measured elsewhere (the offline import figure), not here.
POST_ELSEWHERE = {"exports.offline_upload": "POST is the offline import (figures table)"}


@dataclass
class RouteFigure:
    rule: str
    url: str
    role: str
    status: int
    stats: dict
    size: int
    note: str = ""


def _arguments(rule, round_id: str, iso3: str, key: str) -> dict:
    values = {"round_id": round_id, "iso3": iso3, "key": key}
    missing = set(rule.arguments) - set(values)
    if missing:
        raise SystemExit(f"routes.py: no value for {sorted(missing)} of {rule.rule}; add one")
    return {name: values[name] for name in rule.arguments}


def report_rules(app):
    return sorted(
        (r for r in app.url_map.iter_rules() if r.endpoint.split(".")[0] in BLUEPRINTS),
        key=lambda r: r.rule,
    )


def measure(
    app,
    analyst,
    respondent,
    *,
    round_id: str,
    iso3: str,
    key: str,
    runs: int,
    budget: float = 8.0,
) -> list[RouteFigure]:
    """Time every report/export/API route; `analyst` and `respondent` are logged-in test clients."""
    figures = []
    for rule in report_rules(app):
        with app.test_request_context():
            from flask import url_for

            base = url_for(rule.endpoint, **_arguments(rule, round_id, iso3, key))
        variants = VARIANTS.get(rule.endpoint)
        note = POST_ELSEWHERE.get(rule.endpoint, "")
        if variants is None:
            variants = [""]
            note = "NOT LISTED in routes.VARIANTS: bare URL only"
        role = "respondent" if rule.endpoint in RESPONDENT_ENDPOINTS else "analyst"
        client = respondent if role == "respondent" else analyst
        for query in variants:
            url = base + query
            times, size, status = [], 0, 0
            spent = 0.0
            while len(times) < runs and (not times or spent < budget):
                gc.collect()
                start = time.perf_counter()
                response = client.get(url)
                body = response.get_data()
                elapsed = time.perf_counter() - start
                response.close()
                times.append(elapsed)
                spent += elapsed
                size, status = len(body), response.status_code
            figures.append(
                RouteFigure(
                    rule.rule, url, role, status, stats(times), size, note if query == "" else ""
                )
            )
    return figures


def table(figures: list[RouteFigure]) -> list[str]:
    out = [
        "| URL (rule) | as | status | median | min-max | n | size | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        s = f.stats
        out.append(
            f"| `{f.url}` ({f.rule}) | {f.role} | {f.status} | {_t(s['median'])} |"
            f" {_t(s['min'])}-{_t(s['max'])} | {s['runs']} | {_size(f.size)} | {f.note} |"
        )
    return out


def _t(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1000:.1f} ms"


def _size(n: int) -> str:
    if n >= 1e6:
        return f"{n / 1e6:.1f} MB"
    if n >= 1e3:
        return f"{n / 1e3:.0f} kB"
    return f"{n} B"
