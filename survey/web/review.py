"""The secretariat's side: responses by State, read-only answers, validate or return, history."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..progress import chapter_progress, missing_answers
from ..scoring import index_by, score_state, state_index
from ..storage.responses import (
    WorkflowError,
    answer_values,
    change_status,
    events,
    find_response,
    history,
    load_answers,
    responses_by_state,
)
from ..storage.rounds import list_rounds, state_instruments
from ..storage.states import UN_GROUP_LABELS, get_state, state_name
from .auth import roles_required
from .db import get_db, get_model, round_or_404
from .forms import CommentForm
from .i18n import current_language

bp = Blueprint("review", __name__, url_prefix="/responses")


def _state_or_404(iso3):
    state = get_state(get_db(), iso3)
    if state is None:
        abort(404)
    return state


@bp.route("/")
@bp.route("/<round_id>/")
@roles_required("analyst", "admin")
def responses(round_id=None):
    db = get_db()
    round_ = round_or_404(round_id)
    status = request.args.get("status", "")
    group = request.args.get("group", "")
    rows = responses_by_state(db, round_["id"])
    counts = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    if status:
        rows = [r for r in rows if r["status"] == status]
    if group:
        rows = [r for r in rows if r["un_regional_group"] == group]
    total = len(get_model().provisions)
    return render_template(
        "review/list.html",
        round=round_,
        rounds=list_rounds(db),
        rows=rows,
        counts=counts,
        status=status,
        group=group,
        groups=UN_GROUP_LABELS,
        total=total,
    )


def _values(db, response):
    return {pid: answer_values(a) for pid, a in load_answers(db, response["id"]).items()}


def render_profile(round_, response):
    """A State's compliance by instrument and chapter, its gaps and requested TA."""
    db, model = get_db(), get_model()
    state = _state_or_404(response["state_iso3"])
    instruments = state_instruments(db, round_["id"], state["iso3"])
    scores = score_state(model, _values(db, response), instruments)
    by_instrument = index_by(scores, lambda s: s.instrument)
    by_chapter = index_by(scores, lambda s: f"{s.instrument}/{s.chapter}")
    gaps = sorted(
        (s for s in scores if s.is_gap),
        key=lambda s: (-s.severity, model.provisions[s.provision_id].order),
    )
    return render_template(
        "fill/profile.html",
        round=round_,
        state=state,
        state_name=state_name(state, current_language()),
        response=response,
        overall=state_index(scores),
        by_instrument=by_instrument,
        by_chapter=by_chapter,
        gaps=gaps,
        model=model,
        instruments=instruments,
    )


def render_print(round_, response):
    db, model = get_db(), get_model()
    state = _state_or_404(response["state_iso3"])
    instruments = state_instruments(db, round_["id"], state["iso3"])
    return render_template(
        "fill/print.html",
        round=round_,
        state=state,
        state_name=state_name(state, current_language()),
        response=response,
        model=model,
        instruments=instruments,
        values=_values(db, response),
    )


@bp.route("/<round_id>/<iso3>/", methods=["GET", "POST"])
@roles_required("analyst", "admin")
def response(round_id, iso3):
    db, model = get_db(), get_model()
    round_ = round_or_404(round_id)
    state = _state_or_404(iso3)
    response_ = find_response(db, round_["id"], state["iso3"])
    form = CommentForm()
    status = 200
    if request.method == "POST":
        valid = form.validate_on_submit()
        # A comment over the limit is shown again with its error and the text kept; any other
        # failure (a missing or stale CSRF token) means the form expired.
        if response_ is None or (not valid and set(form.errors) != {"comment"}):
            abort(400, _("The form expired; reload the page and try again."))
        target = {"validate": "validated", "return": "returned"}.get(request.form.get("action"))
        if target is None:
            abort(400, _("Choose Validate or Return."))
        if not valid:
            status = 422
        else:
            try:
                change_status(
                    db, response_["id"], target, user_id=g.user["id"], comment=form.comment.data
                )
            except WorkflowError as exc:
                flash(str(exc), "error")
            else:
                flash(
                    _(
                        "The response of %(state)s is now %(status)s.",
                        state=state_name(state, current_language()),
                        status=_(target),
                    ),
                    "info",
                )
                return redirect(
                    url_for("review.response", round_id=round_["id"], iso3=state["iso3"])
                )
    instruments = state_instruments(db, round_["id"], state["iso3"])
    values = _values(db, response_) if response_ else {}
    return render_template(
        "review/response.html",
        round=round_,
        state=state,
        response=response_,
        progress=chapter_progress(model, instruments, values),
        missing=missing_answers(model, instruments, values),
        events=events(db, response_["id"]) if response_ else [],
        form=form,
    ), status


@bp.route("/<round_id>/<iso3>/<instrument>/<chapter_id>")
@roles_required("analyst", "admin")
def chapter(round_id, iso3, instrument, chapter_id):
    db, model = get_db(), get_model()
    round_ = round_or_404(round_id)
    state = _state_or_404(iso3)
    response_ = find_response(db, round_["id"], state["iso3"])
    chapter_ = model.chapters.get(f"{instrument}/{chapter_id}")
    if response_ is None or chapter_ is None:
        abort(404)
    values = _values(db, response_)
    return render_template(
        "review/chapter.html",
        round=round_,
        state=state,
        response=response_,
        chapter=chapter_,
        values=values,
    )


@bp.route("/<round_id>/<iso3>/history/<provision_id>")
@roles_required("analyst", "admin")
def provision_history(round_id, iso3, provision_id):
    db, model = get_db(), get_model()
    round_ = round_or_404(round_id)
    state = _state_or_404(iso3)
    response_ = find_response(db, round_["id"], state["iso3"])
    provision = model.provisions.get(provision_id)
    if response_ is None or provision is None:
        abort(404)
    return render_template(
        "fill/history.html",
        round=round_,
        provision=provision,
        rows=history(db, response_["id"], provision_id),
        back=url_for(
            "review.chapter",
            round_id=round_["id"],
            iso3=state["iso3"],
            instrument=provision.instrument,
            chapter_id=provision.chapter,
        ),
    )


@bp.route("/<round_id>/<iso3>/profile")
@roles_required("analyst", "admin")
def profile(round_id, iso3):
    round_ = round_or_404(round_id)
    state = _state_or_404(iso3)
    response_ = find_response(get_db(), round_["id"], state["iso3"])
    if response_ is None:
        abort(404)
    return render_profile(round_, response_)


@bp.route("/<round_id>/<iso3>/print")
@roles_required("analyst", "admin")
def print_view(round_id, iso3):
    round_ = round_or_404(round_id)
    state = _state_or_404(iso3)
    response_ = find_response(get_db(), round_["id"], state["iso3"])
    if response_ is None:
        abort(404)
    return render_print(round_, response_)
