"""JSON API for analysts' scripts: the same numbers as the report pages (session or Bearer token)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, g, jsonify, request
from flask_babel import gettext as _

from ..i18n import LANGUAGES
from ..reports import state_scores
from ..reports.cache import regional_priorities
from ..reports.coverage import ta_coverage_text
from ..reports.national import national_report, report_json
from ..storage.states import get_state, regions
from .db import get_db, get_model, round_or_404
from .reports import request_grouping

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.before_request
def _analysts_only():
    if g.user is None:
        abort(
            401,
            _("Log in as an analyst or send 'Authorization: Bearer <token>' (survey tokens add)."),
        )
    if g.user["role"] not in ("analyst", "admin"):
        abort(404)


@bp.route("/rounds/<round_id>/priorities")
def priorities(round_id):
    round_ = round_or_404(round_id)
    grouping = request_grouping()
    region = request.args.get("region") or None
    if region is not None and region not in regions(get_db(), grouping):
        abort(
            404,
            _("No region '%(region)s' in grouping %(grouping)s.", region=region, grouping=grouping),
        )
    rows = regional_priorities(get_db(), get_model(), round_["id"], grouping, region=region)
    return jsonify(
        {
            "round": round_["id"],
            "grouping": grouping,
            "region": region,
            "count": len(rows),
            "priorities": rows,
        }
    )


@bp.route("/rounds/<round_id>/states/<iso3>/scores")
def scores(round_id, iso3):
    round_ = round_or_404(round_id)
    data = state_scores(get_db(), get_model(), round_["id"], iso3.upper())
    if data is None:
        abort(
            404,
            _(
                "No response from '%(iso3)s' in round '%(round)s'.",
                iso3=iso3,
                round=round_id,
            ),
        )
    return jsonify(data)


@bp.route("/rounds/<round_id>/states/<iso3>/priorities")
def national_priorities(round_id, iso3):
    """A State's national TA priorities (survey.reports.national), labels in `lang` (default en)."""
    round_ = round_or_404(round_id)
    state = get_state(get_db(), iso3)
    if state is None:
        abort(404, _("No Member State '%(iso3)s'.", iso3=iso3))
    lang = request.args.get("lang", "en")
    if lang not in LANGUAGES:
        abort(
            400,
            _(
                "Unknown language '%(lang)s'. Use one of: %(valid)s.",
                lang=lang,
                valid=", ".join(LANGUAGES),
            ),
        )
    report = national_report(get_db(), get_model(), round_["id"], state["iso3"], lang=lang)
    return jsonify(report_json(report, lang))


@bp.route("/rounds/<round_id>/coverage")
def coverage(round_id):
    """Unmet TA demand and providers (survey.reports.coverage): every region, or `region`."""
    from .coverage import coverage_filters

    round_, grouping, region, instrument, _options = coverage_filters(
        round_id, region_required=False
    )
    body = ta_coverage_text(
        get_db(),
        get_model(),
        round_["id"],
        grouping,
        current_app.json.dumps,
        region=region,
        instrument=instrument,
    )
    return current_app.response_class(body + "\n", mimetype="application/json")
