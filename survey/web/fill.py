"""The respondent's side: fill in the questionnaire chapter by chapter, save drafts, submit."""

from __future__ import annotations

import functools
import hashlib
import json

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from ..answers import AnswerError, clean_value
from ..progress import chapter_progress, missing_answers
from ..storage.responses import (
    EDITABLE,
    WorkflowError,
    answer_values,
    change_status,
    compliance_answered,
    find_response,
    get_or_create_response,
    history,
    load_answers,
    prefill_from,
    previous_submitted,
    save_provision,
)
from ..storage.rounds import get_round, state_instruments
from ..storage.states import state_name
from .auth import login_page_for_expired_post, roles_required
from .db import get_db, get_model, round_or_404
from .forms import BaseForm, field_name, provision_form_class, version_name
from .i18n import current_language
from .widgets import copy_forms_html, sections_html, sidebar_html

bp = Blueprint("fill", __name__, url_prefix="/fill")


def value_token(version: int, value) -> str:
    """The hidden 'what I started from' marker: version and a short hash of the value."""
    digest = hashlib.sha256(json.dumps(value, ensure_ascii=False).encode()).hexdigest()[:12]
    return f"{version}:{digest}"


def _parse_token(token: str | None) -> tuple[int | None, str | None]:
    if not token or ":" not in token:
        return None, None
    version, _, digest = token.partition(":")
    return (int(version), digest) if version.isdigit() else (None, None)


def _state():
    db = get_db()
    rows = list(db.query("SELECT * FROM states WHERE iso3 = ?", [g.user["state_iso3"]]))
    return rows[0]


def _editable(round_, response) -> bool:
    return round_["status"] == "open" and (response is None or response["status"] in EDITABLE)


def _chapter_or_404(model, instruments, instrument, chapter_id):
    if instrument not in instruments:
        abort(404)
    chapter = model.chapters.get(f"{instrument}/{chapter_id}")
    if chapter is None:
        abort(404)
    return chapter


@bp.route("/")
@bp.route("/<round_id>/")
@roles_required("respondent")
def overview(round_id=None):
    db, model = get_db(), get_model()
    round_ = round_or_404(round_id)
    state = _state()
    response = find_response(db, round_["id"], state["iso3"])
    instruments = state_instruments(db, round_["id"], state["iso3"])
    values = {}
    if response:
        values = compliance_answered(db, response["id"])
    progress = chapter_progress(model, instruments, values)
    previous = None
    if response is None or not values:
        previous = previous_submitted(db, state["iso3"], round_["id"])
    return render_template(
        "fill/overview.html",
        round=round_,
        state=state,
        state_name=state_name(state, current_language()),
        response=response,
        progress=progress,
        previous=previous,
        editable=_editable(round_, response),
        form=BaseForm(),
    )


@bp.route("/<round_id>/prefill", methods=["POST"])
@roles_required("respondent")
def prefill(round_id):
    db, model = get_db(), get_model()
    round_ = round_or_404(round_id)
    if not BaseForm().validate_on_submit():
        abort(400, _("The form expired; reload the page and try again."))
    state = _state()
    source = previous_submitted(db, state["iso3"], round_["id"])
    if source is None:
        abort(404)
    response = get_or_create_response(db, round_["id"], state["iso3"])
    if not _editable(round_, response):
        abort(409, _("This response can no longer be edited."))
    instruments = state_instruments(db, round_["id"], state["iso3"])
    ids = [p.id for inst in model.instruments if inst.code in instruments for p in inst.provisions]
    try:
        count = prefill_from(
            db, response["id"], source["id"], user_id=g.user["id"], provision_ids=ids
        )
    except WorkflowError as exc:
        flash(str(exc), "error")
    else:
        flash(
            _(
                "Started from your answers of round %(round)s: %(count)s answers copied. Review and update them.",
                round=source["round_id"],
                count=count,
            ),
            "info",
        )
    return redirect(url_for("fill.overview", round_id=round_["id"]))


def _chapter_context(model, chapter, stored, *, form_values=None, conflicts=None):
    """Per-provision data the chapter template needs; `form_values` overrides stored values."""
    provisions = []
    for provision in chapter.provisions:
        answers = stored.get(provision.id, {})
        values = {q: a.value for q, a in answers.items()}
        if form_values and provision.id in form_values:
            values = {**values, **form_values[provision.id]}
        tokens = {
            q.name: value_token(answers[q.name].version, answers[q.name].value)
            if q.name in answers
            else value_token(0, None)
            for q in provision.questions
        }
        if conflicts:
            for c in conflicts.get(provision.id, []):
                tokens[c["question"]] = value_token(c["theirs_version"], c["theirs"])
        shown = {q.name for q in provision.relevant_questions(values)}
        provisions.append(
            {
                "provision": provision,
                "answers": values,
                "tokens": tokens,
                "shown": shown,
                "updated": max((a.updated_at for a in answers.values()), default=None),
                "conflicts": (conflicts or {}).get(provision.id, []),
            }
        )
    return provisions


def _related_offers(model, chapter, response_id, db):
    """Answered cross-referenced UN provisions this State could copy in ('import or amend')."""
    related_ids = {r.id for p in chapter.provisions for r in model.related(p.id)}
    if not related_ids:
        return {}
    answered = load_answers(db, response_id, related_ids)
    offers = {}
    for p in chapter.provisions:
        offers[p.id] = [
            {"provision": r, "compliance": answered[r.id]["compliance"].value}
            for r in model.related(p.id)
            if r.id in answered and "compliance" in answered[r.id]
        ]
    return offers


def save_chapter(model, db, response, chapter, formdata: MultiDict):
    """Clean and save the posted provisions of a chapter; return (saved, errors, conflicts, form_values).

    Only provisions whose '<id>.present' marker was posted are touched; inside them, a question
    whose field was not posted is left alone (a radio group left unanswered posts nothing;
    checkbox groups always post an empty sentinel so unticking every box still counts).
    """
    keep_theirs = set(formdata.getlist("keep_theirs"))
    errors: dict[str, str] = {}
    conflicts: dict[str, list] = {}
    form_values: dict[str, dict] = {}
    saved: list[str] = []
    posted = [p for p in chapter.provisions if f"{p.id}.present" in formdata]
    stored = load_answers(db, response["id"], [p.id for p in posted])
    for provision in posted:
        form = provision_form_class(model, provision.id)(formdata)
        values, bases = {}, {}
        for question in provision.questions:
            name = field_name(provision.id, question.name)
            if name not in formdata:
                continue
            raw = form[name].data
            form_values.setdefault(provision.id, {})[question.name] = raw
            if name in keep_theirs:
                continue
            try:
                value = clean_value(question, raw)
            except AnswerError as exc:
                errors[name] = str(exc)
                continue
            base_version, base_hash = _parse_token(
                form[version_name(provision.id, question.name)].data
            )
            current = stored.get(provision.id, {}).get(question.name)
            if (
                base_version is not None
                and base_hash == value_token(base_version, value).split(":")[1]
            ):
                continue  # the user left this answer as they found it: never overwrite a newer one
            values[question.name] = value
            if base_version is not None:
                bases[question.name] = base_version
            elif current is not None:
                bases[question.name] = current.version
        if not values:
            continue
        result = save_provision(
            db, response["id"], provision.id, values, user_id=g.user["id"], base_versions=bases
        )
        saved += [field_name(provision.id, q) for q in result.changed]
        if result.conflicts:
            conflicts[provision.id] = result.conflicts
    return saved, errors, conflicts, form_values


@bp.route("/<round_id>/<instrument>/<chapter_id>", methods=["GET", "POST"])
@roles_required("respondent")
def chapter(round_id, instrument, chapter_id):
    db, model = get_db(), get_model()
    round_ = round_or_404(round_id)
    state = _state()
    instruments = state_instruments(db, round_["id"], state["iso3"])
    chapter_ = _chapter_or_404(model, instruments, instrument, chapter_id)
    response = find_response(db, round_["id"], state["iso3"])
    errors, conflicts, form_values = {}, {}, None
    autosave = request.headers.get("X-Autosave") == "1"
    if request.method == "POST":
        if not BaseForm().validate_on_submit():
            if autosave:
                return jsonify(
                    {"error": "csrf", "message": _("Reload the page to continue saving.")}
                ), 400
            abort(
                400,
                _(
                    "The form expired. Your browser's back button returns to the page with your text; reload it, then save again."
                ),
            )
        response = response or get_or_create_response(db, round_["id"], state["iso3"])
        if not _editable(round_, response):
            message = _(
                "This response has been submitted and is read-only until it is returned to you."
            )
            if autosave:
                return jsonify({"error": "read_only", "message": message}), 409
            abort(409, message)
        saved, errors, conflicts, form_values = save_chapter(
            model, db, response, chapter_, request.form
        )
        if autosave:
            posted = [p.id for p in chapter_.provisions if f"{p.id}.present" in request.form]
            stored = load_answers(db, response["id"], posted)
            tokens = {
                version_name(pid, q): value_token(a.version, a.value)
                for pid, answers in stored.items()
                for q, a in answers.items()
            }
            return jsonify(
                {
                    "saved": saved,
                    "errors": errors,
                    "conflicts": sum(len(c) for c in conflicts.values()),
                    "tokens": tokens,
                }
            ), (409 if conflicts else 422 if errors else 200)
        if not errors and not conflicts:
            flash(
                _("Saved: %(n)s answer(s) changed.", n=len(saved))
                if saved
                else _("Saved: nothing had changed."),
                "info",
            )
            return redirect(
                url_for(
                    "fill.chapter",
                    round_id=round_["id"],
                    instrument=instrument,
                    chapter_id=chapter_id,
                )
            )
    return render_chapter(
        model, round_, state, response, instruments, chapter_, errors, conflicts, form_values
    )


def render_chapter(
    model, round_, state, response, instruments, chapter_, errors, conflicts, form_values
):
    """The chapter page: stored answers, with what the user posted where a save needs their attention."""
    db = get_db()
    stored = (
        load_answers(db, response["id"], [p.id for p in chapter_.provisions]) if response else {}
    )
    values = compliance_answered(db, response["id"]) if response else {}
    provisions = _chapter_context(
        model,
        chapter_,
        stored,
        form_values=form_values if (errors or conflicts) else None,
        conflicts=conflicts,
    )
    status = 409 if conflicts else 422 if errors else 200
    return render_template(
        "fill/chapter.html",
        round=round_,
        state=state,
        response=response,
        chapter=chapter_,
        instrument=model.instrument(chapter_.instrument),
        provisions=provisions,
        progress=chapter_progress(model, instruments, values),
        errors=errors,
        conflicts=conflicts,
        offers=_related_offers(model, chapter_, response["id"], db) if response else {},
        editable=_editable(round_, response),
        form=BaseForm(),
        field_name=field_name,
        sections_html=sections_html,
        copy_forms_html=copy_forms_html,
        rules={p.id: _rules(p) for p in chapter_.provisions},
        sidebar_html=sidebar_html,
        chapter_url=url_for(
            "fill.chapter", round_id=round_["id"], instrument="INSTRUMENT", chapter_id="CHAPTER"
        ),
    ), status


@functools.lru_cache(maxsize=4096)
def _rules(provision):
    """Relevance rules as JSON trees for the page's script (the server decides without it)."""
    out = {}
    for q in provision.questions:
        if q.relevant is not None:
            out[q.name] = _rule_json(q.relevant)
    return out


def _rule_json(node):
    if hasattr(node, "parts"):
        return {"op": node.op, "parts": [_rule_json(p) for p in node.parts]}
    if hasattr(node, "clause"):
        return {"op": "not", "parts": [_rule_json(node.clause)]}
    return {"op": node.op, "q": node.question, "codes": list(node.codes)}


def replay_chapter_save(args: dict, form: dict):
    """Save a post that arrived after the session expired, now that the user has logged in again."""
    model, db = get_model(), get_db()
    round_ = get_round(db, str(args.get("round_id")))
    state = _state()
    instruments = state_instruments(db, round_["id"], state["iso3"]) if round_ else []
    chapter_ = model.chapters.get(f"{args.get('instrument')}/{args.get('chapter_id')}")
    if round_ is None or chapter_ is None or chapter_.instrument not in instruments:
        flash(_("You are logged in, but the page you were saving no longer exists."), "warning")
        return redirect(url_for("fill.overview"))
    response = get_or_create_response(db, round_["id"], state["iso3"])
    if not _editable(round_, response):
        flash(
            _("You are logged in, but this response is no longer editable; nothing was changed."),
            "warning",
        )
        return redirect(url_for("fill.overview", round_id=round_["id"]))
    formdata = MultiDict([(k, v) for k, values in form.items() for v in values])
    saved, errors, conflicts, form_values = save_chapter(model, db, response, chapter_, formdata)
    if not errors and not conflicts:
        flash(
            _("Logged in again and saved the %(n)s answer(s) you had changed.", n=len(saved)),
            "info",
        )
        return redirect(
            url_for(
                "fill.chapter",
                round_id=round_["id"],
                instrument=chapter_.instrument,
                chapter_id=chapter_.id,
            )
        )
    return render_chapter(
        model, round_, state, response, instruments, chapter_, errors, conflicts, form_values
    )


@bp.route("/<round_id>/copy/<provision_id>", methods=["POST"])
@roles_required("respondent")
def copy_related(round_id, provision_id):
    """'Import or amend': copy the answers of a cross-referenced provision into this one."""
    db, model = get_db(), get_model()
    round_ = round_or_404(round_id)
    state = _state()
    if not BaseForm().validate_on_submit():
        abort(400, _("The form expired; reload the page and try again."))
    target = model.provisions.get(provision_id)
    source = model.provisions.get(request.form.get("source", ""))
    instruments = state_instruments(db, round_["id"], state["iso3"])
    if (
        target is None
        or source is None
        or source not in model.related(target.id)
        or target.instrument not in instruments
    ):
        abort(404)
    response = find_response(db, round_["id"], state["iso3"])
    if response is None or not _editable(round_, response):
        abort(409, _("This response cannot be edited now."))
    answers = load_answers(db, response["id"], [source.id]).get(source.id, {})
    current = load_answers(db, response["id"], [target.id]).get(target.id, {})
    values = {q: a.value for q, a in answers.items() if target.question(q) is not None}
    bases = {q: (current[q].version if q in current else 0) for q in values}
    save_provision(
        db,
        response["id"],
        target.id,
        values,
        user_id=g.user["id"],
        base_versions=bases,
        source=f"copy:{source.id}",
    )
    flash(
        _(
            "Copied the answers given for %(source)s into %(target)s. Review and amend them where this provision differs.",
            source=source.id,
            target=target.id,
        ),
        "info",
    )
    chapter_ = model.chapter_of(target)
    return redirect(
        url_for(
            "fill.chapter",
            round_id=round_["id"],
            instrument=target.instrument,
            chapter_id=chapter_.id,
        )
        + f"#{target.id}"
    )


@bp.route("/<round_id>/history/<provision_id>")
@roles_required("respondent")
def provision_history(round_id, provision_id):
    db, model = get_db(), get_model()
    round_ = round_or_404(round_id)
    provision = model.provisions.get(provision_id)
    response = find_response(db, round_["id"], g.user["state_iso3"])
    if provision is None or response is None:
        abort(404)
    return render_template(
        "fill/history.html",
        round=round_,
        provision=provision,
        rows=history(db, response["id"], provision_id),
        back=url_for(
            "fill.chapter",
            round_id=round_["id"],
            instrument=provision.instrument,
            chapter_id=provision.chapter,
        )
        + f"#{provision.id}",
    )


@bp.route("/<round_id>/submit", methods=["GET", "POST"])
@roles_required("respondent")
def submit(round_id):
    db, model = get_db(), get_model()
    round_ = round_or_404(round_id)
    state = _state()
    response = find_response(db, round_["id"], state["iso3"])
    instruments = state_instruments(db, round_["id"], state["iso3"])
    values = (
        {pid: answer_values(a) for pid, a in load_answers(db, response["id"]).items()}
        if response
        else {}
    )
    missing = missing_answers(model, instruments, values)
    form = BaseForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400, _("The form expired; reload the page and try again."))
        if response is None or not _editable(round_, response):
            abort(409, _("This response cannot be submitted now."))
        if not missing:
            change_status(db, response["id"], "submitted", user_id=g.user["id"])
            flash(
                _(
                    "Thank you: your self-assessment is submitted. It is read-only unless the secretariat returns it."
                ),
                "info",
            )
            return redirect(url_for("fill.profile", round_id=round_["id"]))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "fill/submit.html",
        round=round_,
        state=state,
        response=response,
        missing=missing,
        form=form,
        editable=_editable(round_, response),
    ), status


@bp.route("/<round_id>/profile")
@roles_required("respondent")
def profile(round_id):
    from .review import render_profile

    round_ = round_or_404(round_id)
    response = find_response(get_db(), round_["id"], g.user["state_iso3"])
    if response is None:
        abort(404)
    return render_profile(round_, response)


@bp.route("/<round_id>/print")
@roles_required("respondent")
def print_view(round_id):
    from .review import render_print

    round_ = round_or_404(round_id)
    response = find_response(get_db(), round_["id"], g.user["state_iso3"])
    if response is None:
        abort(404)
    return render_print(round_, response)


@bp.before_request
def _expired_session_keeps_the_post():
    """A chapter save from an expired session: keep the post, ask to log in, then save it."""
    if request.method == "POST" and g.user is None and request.endpoint == "fill.chapter":
        if request.headers.get("X-Autosave") == "1":
            return jsonify(
                {
                    "error": "login_required",
                    "message": "Your session has expired; log in again to keep saving.",
                }
            ), 401
        return login_page_for_expired_post()
    return None
