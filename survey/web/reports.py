"""Analyst report pages: dashboard, regional priorities, heatmap, round comparison; charts with CSV data."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import plotly
from flask import Blueprint, abort, current_app, render_template, request, url_for
from flask_babel import gettext as _

from ..exports.safe import csv_text
from ..reports import comparison, dashboard, heatmap, priority_report
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


def _grouping():
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


def _csv(name, header, rows):
    return attachment(csv_text(header, rows), f"{name}.csv", CSV_MIMETYPE)


def _common(round_, grouping):
    return {
        "round": round_,
        "rounds": list_rounds(get_db()),
        "grouping": grouping,
        "groupings": GROUPING_LABELS,
        "region_label": region_label,
    }


@bp.route("/", endpoint="dashboard")
@bp.route("/<round_id>/", endpoint="dashboard")
@roles_required("analyst", "admin")
def dashboard_page(round_id=None):
    round_ = round_or_404(round_id)
    grouping = _grouping()
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
    grouping = _grouping()
    region, options = _region(grouping)
    data = priority_report(
        get_db(), get_model(), round_["id"], grouping, region, lang=current_language()
    )
    fmt = request.args.get("format")
    if fmt == "csv":
        table = request.args.get("table", "priorities")
        if table == "ta_demand":
            return _csv(
                f"ta-demand-{round_['id']}-{region}",
                ["kind", "code", "label", "n_states", "n_selections"],
                (
                    [r["kind"], r["code"], r["label"], r["n_states"], r["n_selections"]]
                    for r in data["ta_demand"] + data["challenges"]
                ),
            )
        return _csv(
            f"priorities-{round_['id']}-{region}",
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
                ]
                for r in data["priorities"]
            ),
        )
    if fmt == "html":
        return attachment(
            standalone_report(data), f"priorities-{round_['id']}-{region}.html", HTML_MIMETYPE
        )
    return render_template(
        "reports/priorities.html",
        data=data,
        regions=options,
        region=region,
        **_common(round_, grouping),
    )


@bp.route("/<round_id>/heatmap")
@roles_required("analyst", "admin")
def heatmap_page(round_id):
    round_ = round_or_404(round_id)
    grouping = _grouping()
    data = heatmap(get_db(), get_model(), round_["id"], grouping, lang=current_language())
    if request.args.get("format") == "csv":
        header = ["region", *[c["label"] for c in data["chapters"]]]
        return _csv(
            f"gap-share-{round_['id']}-{grouping}",
            header,
            ([r["label"], *row] for r, row in zip(data["regions"], data["z"], strict=True)),
        )
    return render_template("reports/heatmap.html", data=data, **_common(round_, grouping))


@bp.route("/<round_id>/compare")
@roles_required("analyst", "admin")
def compare(round_id):
    db = get_db()
    round_ = round_or_404(round_id)
    grouping = _grouping()
    others = [r for r in list_rounds(db) if r["id"] != round_["id"]]
    previous = (
        request.args.get("previous")
        or round_.get("previous_round")
        or (others[0]["id"] if others else None)
    )
    if previous is None:
        return render_template(
            "reports/compare.html", data=None, others=others, **_common(round_, grouping)
        )
    if get_round(db, previous) is None:
        abort(404)
    region = request.args.get("region") or None
    data = comparison(db, get_model(), round_["id"], previous, grouping, region)
    if request.args.get("format") == "csv":
        rows = data["fell"] + data["rose"]
        return _csv(
            f"comparison-{previous}-{round_['id']}",
            ["region", "provision_id", "title", "gap_share_before", "gap_share_now", "change"],
            (
                [
                    r["region_label"],
                    r["provision_id"],
                    r["title"],
                    r["gap_share_before"],
                    r["gap_share_now"],
                    r["change"],
                ]
                for r in rows
            ),
        )
    return render_template(
        "reports/compare.html",
        data=data,
        others=others,
        previous=previous,
        regions=regions(db, grouping),
        **_common(round_, grouping),
    )


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
