"""Each report page and API endpoint, warm (report cache filled) and cold (cache cleared), each
interleaved with a floor: one SELECT of the rows that report aggregates (queries.py).

Per report, three series run round after round in one interleaved loop (order rotating):
`warm` (a GET with the cache as the previous GET left it), `cold` (REPORT_CACHE cleared just
before the GET, in the timed call) and the floor. A cold GET refills the cache, so a warm GET
always finds it filled, whatever the order; the cache's hit and miss counters during the warm
GETs are printed as a check (a page that misses while warm does not use the cache). Times are server time through the Flask test client (no network), in process.
Targets (issue 15): warm p50 <= 50 ms; cold <= 2x its floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import queries
from common import interleaved

WARM_TARGET = 0.050  # seconds, p50 server time with a warm cache
COLD_TARGET = 2.0  # cold / floor, ratio of medians

REGION = "AFRICAN_GROUP"  # the largest UN regional group (54 States)
ISO3 = "FRA"


BARE_URL = "/_benchmark/bare"


def add_bare_page(app) -> None:
    """The bare page of the floor: login required (an analyst), the layout, no data. Call
    before the app's first request."""
    from flask import render_template_string

    from survey.web.auth import roles_required

    @roles_required("analyst", "admin")
    def bare():
        return render_template_string(
            '{% extends "base.html" %}{% block content %}<h1>-</h1>{% endblock %}'
        )

    app.add_url_rule(BARE_URL, "benchmark_bare", bare)


@dataclass(frozen=True)
class Report:
    name: str
    url: str
    floor_what: str
    floor: object  # (db, round_id, previous) -> rows


def _rows_of_grouping(db, round_id, previous):
    return queries.aggregation_floor(db, round_id, groupings=[queries.GROUPING])


def _priorities_inputs(db, round_id, previous):
    """The page ranks one region: its States' rows only."""
    return queries.aggregation_floor(
        db, round_id, groupings=[queries.GROUPING], region=REGION
    ) + queries.demand_floor(db, round_id, region=REGION)


def _dashboard_inputs(db, round_id, previous):
    from survey.storage.states import region_expression

    return db.execute(
        f"""SELECT {region_expression(queries.GROUPING)}, r.status FROM states
            LEFT JOIN responses r ON r.state_iso3 = states.iso3 AND r.round_id = ?""",
        [round_id],
    ).fetchall()


def _state_rows(db, round_id, previous):
    return queries.state_scores_floor(db, round_id, ISO3)


def _state_and_region_rows(db, round_id, previous):
    """The State's answers plus the aggregation rows of its UN regional group, which the
    national report ranks the State's gaps against."""
    return queries.state_scores_floor(db, round_id, ISO3) + queries.aggregation_floor(
        db, round_id, groupings=[queries.GROUPING], region_of=ISO3
    )


def _both_rounds(db, round_id, previous):
    return queries.comparison_floor(db, round_id, previous)


def reports(round_id: str, previous: str, endpoints: set[str]) -> list[Report]:
    """The report pages and API endpoints of this list that the app has."""
    return [r for endpoint, r in _candidates(round_id, previous) if endpoint in endpoints]


def _candidates(round_id: str, previous: str) -> list[tuple[str, Report]]:
    g = queries.GROUPING
    grouping_rows = "compliance and ta_needed answers of the counted responses, with the region"
    candidates = [
        (
            "reports.dashboard",
            Report(
                "Dashboard",
                f"/reports/{round_id}/?grouping={g}",
                "every State with its region and response status",
                _dashboard_inputs,
            ),
        ),
        (
            "reports.priorities",
            Report(
                f"Regional priorities ({REGION})",
                f"/reports/{round_id}/priorities?grouping={g}&region={REGION}",
                f"{grouping_rows}, the region's States; plus their TA-demand input rows",
                _priorities_inputs,
            ),
        ),
        (
            "reports.heatmap_page",
            Report(
                "Gap heatmap",
                f"/reports/{round_id}/heatmap?grouping={g}",
                grouping_rows,
                _rows_of_grouping,
            ),
        ),
        (
            "reports.compare",
            Report(
                f"Round comparison {round_id}/{previous}, panel",
                f"/reports/{round_id}/compare?grouping={g}&previous={previous}",
                f"{grouping_rows}, both rounds",
                _both_rounds,
            ),
        ),
        (
            "reports.compare",
            Report(
                f"Round comparison {round_id}/{previous}, all States",
                f"/reports/{round_id}/compare?grouping={g}&previous={previous}&population=all",
                f"{grouping_rows}, both rounds",
                _both_rounds,
            ),
        ),
        (
            "national.needs",
            Report(
                "TA needs by article",
                f"/reports/{round_id}/needs?grouping={g}",
                "compliance, ta_needed, ta_types and challenges answers of the counted responses",
                lambda db, r, p: queries.demand_floor(db, r),
            ),
        ),
        (
            "coverage.page",
            Report(
                f"Unmet TA demand and providers ({REGION})",
                f"/reports/{round_id}/coverage?grouping={g}&region={REGION}",
                "compliance, ta_needed, ta_types, ta_received and ta_provider answers of the counted"
                " responses of the region; plus the region's aggregation rows",
                lambda db, r, p: queries.coverage_floor(db, r, region=REGION),
            ),
        ),
        (
            "api.coverage",
            Report(
                "API: unmet TA demand, every region",
                f"/api/v1/rounds/{round_id}/coverage?grouping={g}",
                "the coverage page's rows, for every region",
                lambda db, r, p: queries.coverage_floor(db, r),
            ),
        ),
        (
            "national.report",
            Report(
                f"National report ({ISO3})",
                f"/national/{round_id}/{ISO3}",
                "the State's answer rows; plus the aggregation rows of its regional group",
                _state_and_region_rows,
            ),
        ),
        (
            "api.priorities",
            Report(
                "API: regional priorities",
                f"/api/v1/rounds/{round_id}/priorities?grouping={g}",
                grouping_rows,
                _rows_of_grouping,
            ),
        ),
        (
            "api.scores",
            Report(
                f"API: one State's scores ({ISO3})",
                f"/api/v1/rounds/{round_id}/states/{ISO3}/scores",
                "the State's answer rows",
                _state_rows,
            ),
        ),
        (
            "api.national_priorities",
            Report(
                f"API: national priorities ({ISO3})",
                f"/api/v1/rounds/{round_id}/states/{ISO3}/priorities",
                "the State's answer rows; plus the aggregation rows of its regional group",
                _state_and_region_rows,
            ),
        ),
    ]
    return candidates


@dataclass
class ReportFigure:
    report: Report
    status: int
    warm: dict
    cold: dict
    floor: dict  # the SELECT of the rows
    bare: dict  # the bare page's GET
    floor_rows: int
    warm_misses: int
    warm_hits: int

    @property
    def floor_median(self) -> float:
        return self.floor["median"] + self.bare["median"]

    @property
    def cold_ratio(self) -> float:
        return self.cold["median"] / self.floor_median

    @property
    def warm_met(self) -> bool:
        return self.warm["median"] <= WARM_TARGET

    @property
    def cold_met(self) -> bool:
        return self.cold_ratio <= COLD_TARGET


# Endpoints of these blueprints that are not a report (assets), so not listed in reports().
BLUEPRINTS = ("reports", "national", "api", "coverage")
NOT_REPORTS = {"reports.plotly_js"}


def unmeasured(app, round_id: str, previous: str) -> list[str]:
    """Report endpoints of the app that reports() has no entry for (flagged in the output)."""
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    listed = {e for e, _r in _candidates(round_id, previous)}
    return sorted(
        e
        for e in endpoints
        if e.split(".")[0] in BLUEPRINTS and e not in listed and e not in NOT_REPORTS
    )


def measure(app, analyst, floor_db, *, round_id: str, previous: str, runs: int) -> list:
    """Time every report of `reports()`; `analyst` is a logged-in test client, `floor_db` a
    connection of its own to the same database file."""
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    figures = []
    for report in reports(round_id, previous, endpoints):
        figures.append(_measure_one(analyst, floor_db, report, round_id, previous, runs))
        print("  " + line(figures[-1]), flush=True)
    return figures


def _measure_one(analyst, floor_db, report: Report, round_id, previous, runs) -> ReportFigure:
    from survey.reports.cache import REPORT_CACHE

    status = {"code": 0}
    warm_counts: list[tuple[int, int]] = []  # (hits, misses) per warm GET, warm-up first

    def get():
        response = analyst.get(report.url)
        response.get_data()
        status["code"] = response.status_code
        response.close()

    def warm():
        hits, misses = REPORT_CACHE.hits, REPORT_CACHE.misses
        get()
        warm_counts.append((REPORT_CACHE.hits - hits, REPORT_CACHE.misses - misses))

    def cold():
        # Timed with the GET: dropping the cache's entries takes well under a millisecond.
        REPORT_CACHE.clear()
        get()

    def bare():
        response = analyst.get(BARE_URL)
        response.get_data()
        assert response.status_code == 200, response.status_code
        response.close()

    timings = interleaved(
        {
            "warm": warm,
            "cold": cold,
            "floor": lambda: report.floor(floor_db, round_id, previous),
            "bare": bare,
        },
        runs,
    )
    timed = warm_counts[1:]  # the warm-up round is not timed
    return ReportFigure(
        report,
        status["code"],
        timings["warm"],
        timings["cold"],
        timings["floor"],
        timings["bare"],
        len(timings["floor"]["result"]),
        warm_misses=sum(m for _h, m in timed),
        warm_hits=sum(h for h, _m in timed),
    )


def line(f: ReportFigure) -> str:
    return (
        f"{f.report.name}: warm {_ms(f.warm['median'])} ({_ms(f.warm['min'])}-{_ms(f.warm['max'])})"
        f" [<= 50 ms: {'met' if f.warm_met else 'MISSED'}]; cold {_ms(f.cold['median'])}"
        f" ({_ms(f.cold['min'])}-{_ms(f.cold['max'])}); floor {_ms(f.floor_median)}"
        f" = rows {_ms(f.floor['median'])} ({f.floor_rows:,} rows) + bare page"
        f" {_ms(f.bare['median'])}; cold/floor {f.cold_ratio:.2f}"
        f" [<= 2: {'met' if f.cold_met else 'MISSED'}]; n={f.warm['runs']}; HTTP {f.status};"
        f" cache during warm GETs: {f.warm_hits} hits, {f.warm_misses} misses"
    )


def table(figures: list[ReportFigure]) -> list[str]:
    out = [
        "| report (URL) | status | warm p50 (min-max) | warm <= 50 ms | cold p50 (min-max)"
        " | floor: what | floor p50: rows + bare page | cold / floor | cold <= 2x floor | n"
        " | cache in warm GETs |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        out.append(
            f"| {f.report.name} (`{f.report.url}`) | {f.status}"
            f" | {_ms(f.warm['median'])} ({_ms(f.warm['min'])}-{_ms(f.warm['max'])})"
            f" | {'met' if f.warm_met else 'MISSED'}"
            f" | {_ms(f.cold['median'])} ({_ms(f.cold['min'])}-{_ms(f.cold['max'])})"
            f" | {f.report.floor_what} ({f.floor_rows:,} rows) | {_ms(f.floor_median)}"
            f" = {_ms(f.floor['median'])} + {_ms(f.bare['median'])}"
            f" | **{f.cold_ratio:.2f}** | {'met' if f.cold_met else 'MISSED'} | {f.warm['runs']}"
            f" | {f.warm_hits} hits, {f.warm_misses} misses |"
        )
    return out


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"
