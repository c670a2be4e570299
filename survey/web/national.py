"""National TA priority reports (a State's own officials and analysts) and TA needs by article."""

from __future__ import annotations

from flask import Blueprint, abort, g, render_template, request
from flask_babel import gettext as _

from ..exports.safe import csv_text
from ..reports.national import for_officials, national_report
from ..reports.needs import csv_header, csv_rows, needs_by_article
from ..storage.states import GROUPING_LABELS, get_state, state_name
from .auth import roles_required
from .db import get_db, get_model, round_or_404
from .downloads import CSV_MIMETYPE, attachment
from .i18n import current_language
from .reports import request_grouping

bp = Blueprint("national", __name__)

NATIONAL_CSV = [
    "rank",
    "provision_id",
    "reference",
    "title",
    "obligation",
    "compliance",
    "score",
    "weight",
    "severity",
    "ta_requested",
    "priority",
    "ta_types",
    "ta_received",
    "ta_provider",
    "challenges",
    "regional_instruments",
    # The State's UN regional group in the regional priorities (empty when not shown)
    "region_rank",
    "region_gap_share",
    "region_states_scored",
]


def _own_state_or_404(iso3: str) -> dict:
    """The State of the report: any State for analysts, a respondent's own State only (anyone
    else's is 'not found', as if it did not exist)."""
    state = get_state(get_db(), iso3)
    if state is None:
        abort(404)
    if g.user["role"] == "respondent" and g.user["state_iso3"] != state["iso3"]:
        abort(404)
    return state


def _standing(data, provision_id: str) -> tuple:
    standing = data.region.of(provision_id) if data.region else None
    if standing is None:
        return (None, None, None)
    return (standing.rank, standing.gap_share, standing.n_resp)


@bp.route("/national/<round_id>/<iso3>")
@roles_required("respondent", "analyst", "admin")
def report(round_id, iso3):
    round_ = round_or_404(round_id)
    state = _own_state_or_404(iso3)
    lang = current_language()
    data = national_report(get_db(), get_model(), round_["id"], state["iso3"], lang=lang)
    if g.user["role"] == "respondent":
        data = for_officials(data)
    if request.args.get("format") == "csv":
        rows = (
            [
                p.rank,
                p.provision_id,
                p.reference,
                p.title,
                p.obligation,
                p.compliance.code,
                p.score,
                p.weight,
                p.severity,
                int(p.ta_requested),
                p.priority,
                "; ".join(t.label for t in p.ta_types),
                int(p.ta_received),
                p.ta_provider,
                "; ".join(c.label for c in p.challenges),
                "; ".join(f"{r.instrument} art. {r.article}" for r in p.regional),
                *_standing(data, p.provision_id),
            ]
            for p in (*data.gaps, *data.ta_without_gap)
        )
        return attachment(
            csv_text(NATIONAL_CSV, rows),
            f"national-priorities-{round_['id']}-{state['iso3']}.csv",
            CSV_MIMETYPE,
        )
    return render_template(
        "national/report.html",
        data=data,
        round=round_,
        state=state,
        state_label=state_name(state, lang),
    )


@bp.route("/reports/<round_id>/needs")
@roles_required("analyst", "admin")
def needs(round_id):
    round_ = round_or_404(round_id)
    grouping = request_grouping()
    model = get_model()
    instrument = request.args.get("instrument") or None
    if instrument is not None and model.instrument(instrument) is None:
        abort(404, _("There is no instrument '%(code)s'.", code=instrument))
    table = needs_by_article(
        get_db(), model, round_["id"], grouping, instrument=instrument, lang=current_language()
    )
    if request.args.get("format") == "csv":
        name = f"ta-needs-by-article-{round_['id']}-{grouping}" + (
            f"-{instrument}" if instrument else ""
        )
        return attachment(csv_text(csv_header(table), csv_rows(table)), f"{name}.csv", CSV_MIMETYPE)
    region = request.args.get("region") or (table.regions[0] if table.regions else None)
    if region is not None and table.regions and region not in table.regions:
        abort(
            404,
            _("No region '%(region)s' in grouping %(grouping)s.", region=region, grouping=grouping),
        )
    return render_template(
        "national/needs.html",
        table=table,
        round=round_,
        grouping=grouping,
        groupings=GROUPING_LABELS,
        region=region,
        instrument=instrument,
        instruments=model.instruments,
    )
