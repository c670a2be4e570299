"""Analyst report pages: dashboard, regional priorities, heatmap, round comparison; charts with CSV data."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import plotly
from flask import Blueprint, abort, current_app, render_template, request, url_for
from flask_babel import gettext as _

from ..exports.safe import csv_text
from ..reports import (
    ReportFilterError,
    chapter_label,
    comparison_page,
    dashboard,
    generated_stamp,
    heatmap,
    priority_report,
    report_filter,
)
from ..storage.rounds import get_round, list_rounds
from ..storage.states import GROUPING_LABELS, GROUPINGS, region_label, regions
from . import assets
from .auth import roles_required
from .db import get_db, get_model, round_or_404
from .downloads import CSV_MIMETYPE, HTML_MIMETYPE, attachment
from .i18n import current_language

bp = Blueprint("reports", __name__, url_prefix="/reports")


@cache
def plotly_js_path() -> Path:
    """plotly.js as shipped inside the plotly Python package (no CDN)."""
    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def init_app(app):
    assets.register(app, "reports.plotly_js", plotly_js_path())


@bp.route("/vendor/plotly.min.js")
def plotly_js():
    """plotly.js, 4.8 MB: precompressed once (1.1 MB brotli) and cached for a year when `v` matches."""
    folder = Path(current_app.config["INSTANCE_PATH"]) / "vendor"
    return assets.send_asset(assets.asset_for("reports.plotly_js"), "text/javascript", folder)


def request_grouping() -> str:
    """The request's `grouping` (default UN regional groups), or a 400 naming the valid ones;
    the one check every report page and its API use."""
    grouping = request.args.get("grouping", "un_regional_group")
    if grouping not in GROUPINGS:
        abort(
            400,
            _(
                "Unknown grouping '%(grouping)s'. Use one of: %(valid)s.",
                grouping=grouping,
                valid=", ".join(GROUPINGS),
            ),
        )
    return grouping


def _region(grouping):
    options = regions(get_db(), grouping)
    region = request.args.get("region") or options[0]
    if region not in options:
        abort(
            404,
            _("No region '%(region)s' in grouping %(grouping)s.", region=region, grouping=grouping),
        )
    return region, options


def _filter():
    """The instrument and chapter filter of the request; 400 with the valid values otherwise."""
    try:
        return report_filter(
            get_model(), request.args.get("instrument"), request.args.get("chapter")
        )
    except ReportFilterError as error:
        abort(400, str(error))


def _page_number():
    try:
        return max(1, int(request.args.get("page", 1)))
    except ValueError:
        return 1


def _csv(name, header, rows):
    return attachment(csv_text(header, rows), f"{name}.csv", CSV_MIMETYPE)


def _common(round_, grouping, provisions=None):
    model = get_model()
    lang = current_language()
    return {
        "round": round_,
        "rounds": list_rounds(get_db()),
        "grouping": grouping,
        "groupings": GROUPING_LABELS,
        "region_label": region_label,
        "provisions": provisions,
        "filter_label": provisions.label(model, lang) if provisions else None,
        "instruments": [(i.code, i.title.get(lang)) for i in model.instruments],
        "chapters": [
            (c.key, c.instrument, chapter_label(c, lang)) for c in model.chapters.values()
        ],
        "generated_at": generated_stamp(),
    }


@bp.route("/", endpoint="dashboard")
@bp.route("/<round_id>/", endpoint="dashboard")
@roles_required("analyst", "admin")
def dashboard_page(round_id=None):
    round_ = round_or_404(round_id)
    grouping = request_grouping()
    data = dashboard(get_db(), round_["id"], grouping)
    if request.args.get("format") == "csv":
        return _csv(
            f"responses-{round_['id']}-{grouping}",
            ["region", *data["columns"][1:]],
            ([r["label"], *[r[c] for c in data["columns"][1:]]] for r in data["rows"]),
        )
    return render_template("reports/dashboard.html", data=data, **_common(round_, grouping))


@bp.route("/<round_id>/priorities")
@roles_required("analyst", "admin")
def priorities(round_id):
    round_ = round_or_404(round_id)
    grouping = request_grouping()
    region, options = _region(grouping)
    provisions = _filter()
    data = priority_report(
        get_db(),
        get_model(),
        round_["id"],
        grouping,
        region,
        lang=current_language(),
        provisions=provisions,
        page=_page_number(),
    )
    name = f"{round_['id']}-{region}{provisions.slug()}"
    fmt = request.args.get("format")
    if fmt == "csv":
        table = request.args.get("table", "priorities")
        if table == "ta_demand":
            return _csv(
                f"ta-demand-{name}",
                [
                    "kind",
                    "code",
                    "label",
                    "n_states",
                    "counted_states",
                    "share_states",
                    "n_selections",
                ],
                (
                    [
                        r.kind,
                        r.code,
                        r.label,
                        r.n_states,
                        data["respondents"],
                        r.share_states,
                        r.n_selections,
                    ]
                    for r in data["ta_demand"] + data["challenges"]
                ),
            )
        if table == "ta_by_chapter":
            return _csv(
                f"ta-demand-by-chapter-{name}",
                ["kind", "chapter", "code", "label", "n_states", "n_selections"],
                (
                    [t.kind, chapter, code, label, t.states.get((key, code), 0), n]
                    for t in (data["ta_by_chapter"], data["challenges_by_chapter"])
                    for key, chapter in t.chapters
                    for code, label in t.codes
                    if (n := t.selections.get((key, code), 0))
                ),
            )
        return _csv(
            f"priorities-{name}",
            [
                "rank",
                "provision_id",
                "title",
                "obligation",
                "n_resp",
                "n_gap",
                "gap_share",
                "ta_share",
                "priority",
                "top_ta_types",
                "overall_rank",
            ],
            (
                [
                    r["rank"],
                    r["provision_id"],
                    r["title"],
                    r["obligation"],
                    r["n_resp"],
                    r["n_gap"],
                    r["gap_share"],
                    r["ta_share"],
                    r["priority"],
                    "; ".join(t["label"] for t in r["top_ta_types"]),
                    r["overall_rank"],
                ]
                for r in data["priorities"]
            ),
        )
    if fmt == "html":
        return attachment(standalone_report(data), f"priorities-{name}.html", HTML_MIMETYPE)
    return render_template(
        "reports/priorities.html",
        data=data,
        regions=options,
        region=region,
        **_common(round_, grouping, provisions),
    )


@bp.route("/<round_id>/heatmap")
@roles_required("analyst", "admin")
def heatmap_page(round_id):
    round_ = round_or_404(round_id)
    grouping = request_grouping()
    provisions = _filter()
    data = heatmap(
        get_db(),
        get_model(),
        round_["id"],
        grouping,
        lang=current_language(),
        provisions=provisions,
    )
    if request.args.get("format") == "csv":
        regions_ = data["regions"]
        return _csv(
            f"gap-share-{round_['id']}-{grouping}{provisions.slug()}",
            [
                "region",
                "chapter",
                "counted_states",
                "small_region",
                "n_answers",
                "n_gaps",
                "gap_share",
            ],
            (
                [
                    r["label"],
                    chapter["label"],
                    r["states"],
                    r["small"],
                    cell.n_answers,
                    cell.n_gaps,
                    cell.gap_share,
                ]
                for chapter, row in zip(data["chapters"], data["cells"], strict=True)
                for r, cell in zip(regions_, row, strict=True)
            ),
        )
    return render_template(
        "reports/heatmap.html", data=data, **_common(round_, grouping, provisions)
    )


@bp.route("/<round_id>/compare")
@roles_required("analyst", "admin")
def compare(round_id):
    db = get_db()
    round_ = round_or_404(round_id)
    grouping = request_grouping()
    others = [r for r in list_rounds(db) if r["id"] != round_["id"]]
    previous = (
        request.args.get("previous")
        or round_.get("previous_round")
        or (others[0]["id"] if others else None)
    )
    if previous is None:
        return render_template(
            "reports/compare.html",
            data=None,
            others=others,
            **_common(round_, grouping, _filter()),
        )
    if get_round(db, previous) is None:
        abort(404)
    region = request.args.get("region") or None
    if region is not None and region not in regions(db, grouping):
        abort(
            404,
            _("No region '%(region)s' in grouping %(grouping)s.", region=region, grouping=grouping),
        )
    provisions = _filter()
    try:
        data = comparison_page(
            db,
            get_model(),
            round_["id"],
            previous,
            grouping,
            region,
            population=request.args.get("population") or "panel",
            provisions=provisions,
            lang=current_language(),
            page=_page_number(),
        )
    except ReportFilterError as error:
        abort(400, str(error))
    if request.args.get("format") == "csv":
        return _csv(
            f"comparison-{data.population}-{previous}-{round_['id']}{provisions.slug()}",
            ["population", "round_before", "round_now", "region", *COMPARISON_COLUMNS],
            (
                [data.population, previous, round_["id"], r.region_label]
                + [getattr(r, c) for c in COMPARISON_COLUMNS]
                for r in data.rows
            ),
        )
    return render_template(
        "reports/compare.html",
        data=data,
        others=others,
        previous=previous,
        regions=regions(db, grouping),
        **_common(round_, grouping, provisions),
    )


# The round comparison's CSV: population, both round ids and the region, then these fields of
# each ChangeRow (n_states_*: counted States of the region in each round).
COMPARISON_COLUMNS = [
    "n_states_before",
    "n_states_now",
    "provision_id",
    "title",
    "instrument",
    "reference",
    "n_resp_before",
    "n_resp_now",
    "n_gap_before",
    "n_gap_now",
    "gap_share_before",
    "gap_share_now",
    "change",
    "n_ta_before",
    "n_ta_now",
    "ta_share_before",
    "ta_share_now",
    "ta_change",
    "rank_before",
    "rank_now",
    "rank_change",
]


def figure_json(figure) -> str:
    """Figure JSON safe to embed in a <script type="application/json"> element."""
    return (
        json.dumps(figure, ensure_ascii=False)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


def standalone_report(data) -> str:
    """One HTML file that opens offline: plotly.js inlined, figures, tables and the method."""
    return render_template(
        "reports/standalone.html",
        data=data,
        plotly_js=plotly_js_path().read_text(encoding="utf-8").replace("</script", "<\\/script"),
        figure_json=figure_json,
    )


bp.add_app_template_global(figure_json, "figure_json")
bp.add_app_template_global(
    lambda **kw: url_for(request.endpoint, **{**request.view_args, **request.args.to_dict(), **kw}),
    "url_with",
)
