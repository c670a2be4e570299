"""Unmet TA demand and coordination (analysts): requested, received and uncovered, and providers."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _

from ..exports.safe import csv_text
from ..reports import generated_stamp
from ..reports.coverage import (
    DEMAND_HEADER,
    PROVIDERS_HEADER,
    demand_rows,
    provider_rows,
    ta_coverage,
    uncovered_header,
    uncovered_rows,
)
from ..storage.states import GROUPING_LABELS, regions
from .auth import roles_required
from .db import get_db, get_model, round_or_404
from .downloads import CSV_MIMETYPE, attachment
from .i18n import current_language
from .reports import request_grouping

bp = Blueprint("coverage", __name__)

CSV_TABLES = ("uncovered", "demand", "providers")


def coverage_filters(round_id: str, *, region_required: bool):
    """The round, grouping, region and instrument of the request, each checked (400 or 404 with
    the valid values): shared by the page and the API."""
    round_ = round_or_404(round_id)
    grouping = request_grouping()
    options = regions(get_db(), grouping)
    region = request.args.get("region") or (options[0] if region_required and options else None)
    if region is not None and region not in options:
        abort(
            404,
            _("No region '%(region)s' in grouping %(grouping)s.", region=region, grouping=grouping),
        )
    instrument = request.args.get("instrument") or None
    if instrument is not None and get_model().instrument(instrument) is None:
        abort(404, _("There is no instrument '%(code)s'.", code=instrument))
    return round_, grouping, region, instrument, options


@bp.route("/reports/<round_id>/coverage")
@roles_required("analyst", "admin")
def page(round_id):
    round_, grouping, region, instrument, options = coverage_filters(round_id, region_required=True)
    report = ta_coverage(
        get_db(),
        get_model(),
        round_["id"],
        grouping,
        region=region,
        instrument=instrument,
        lang=current_language(),
    )
    if request.args.get("format") == "csv":
        table = request.args.get("table", "uncovered")
        if table not in CSV_TABLES:
            abort(
                400,
                _(
                    "Unknown table '%(table)s'. Use one of: %(valid)s.",
                    table=table,
                    valid=", ".join(CSV_TABLES),
                ),
            )
        header, rows = {
            "uncovered": (uncovered_header(report), uncovered_rows(report)),
            "demand": (DEMAND_HEADER, demand_rows(report)),
            "providers": (PROVIDERS_HEADER, provider_rows(report)),
        }[table]
        name = f"ta-{table}-{round_['id']}-{region}" + (f"-{instrument}" if instrument else "")
        return attachment(csv_text(header, rows), f"{name}.csv", CSV_MIMETYPE)
    return render_template(
        "reports/coverage.html",
        report=report,
        round=round_,
        grouping=grouping,
        groupings=GROUPING_LABELS,
        region=region,
        regions=options,
        instrument=instrument,
        instruments=get_model().instruments,
        generated_at=generated_stamp(),
    )
