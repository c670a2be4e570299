"""The respondent's side over HTTP: thin adapters from requests to survey.responding.

Every answer this blueprint writes goes through `survey.responding.save_answers` (one conflict
rule, one transaction per save, the editability check inside it); see docs/saving.md.
"""

from __future__ import annotations

from dataclasses import dataclass

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
from flask_wtf.csrf import generate_csrf

from ..progress import missing_answers, overall_percent
from ..responding import (
    SaveOutcome,
    SaveRefused,
    chapter_view,
    copy_answers,
    copy_plan,
    pending_changes,
    prefill,
    read_chapter_post,
    save_answers,
    token_name,
    undo_save,
)
from ..responding.progress import response_progress
from ..storage.responses import (
    EDITABLE,
    WorkflowError,
    answer_values,
    change_status,
    compliance_codes,
    find_response,
    get_or_create_response,
    history,
    load_answers,
    previous_submitted,
    saved_changes,
)
from ..storage.rounds import get_round, state_instruments
from ..storage.states import get_state, state_name
from .auth import register_replay, roles_required
from .db import get_db, get_model, round_or_404
from .forms import BaseForm
from .i18n import current_language

bp = Blueprint("fill", __name__, url_prefix="/fill")


def _state():
    return get_state(get_db(), g.user["state_iso3"])


def _editable(round_, response) -> bool:
    return round_["status"] == "open" and (response is None or response["status"] in EDITABLE)


def _chapter_or_404(model, instruments, instrument, chapter_id):
    if instrument not in instruments:
        abort(404)
    chapter = model.chapters.get(f"{instrument}/{chapter_id}")
    if chapter is None:
        abort(404)
    return chapter


def _refusal_status(exc: SaveRefused) -> int:
    """A save refused as a whole: 503 when storage failed, 409 when the response is read-only."""
    return 503 if exc.code == "storage" else 409


def _refused(exc: SaveRefused):
    abort(_refusal_status(exc), exc.message)


def _saved_message(outcome) -> str:
    return (
        _("Saved: %(n)s answer(s) changed.", n=len(outcome.changed))
        if outcome.changed
        else _("Saved: nothing had changed.")
    )


def _kept_post(packed: dict, chapter_):
    """The chapter post kept from an expired session (survey.web.auth.load_replay), read again."""
    from werkzeug.datastructures import MultiDict

    formdata = MultiDict([(k, v) for k, values in packed["form"].items() for v in values])
    return read_chapter_post(chapter_, formdata, lang=current_language())


def _wants_json() -> bool:
    return request.headers.get("X-Autosave") == "1"


def _progress(db, model, instruments, response):
    return response_progress(db, model, response["id"] if response else None, instruments)


@bp.route("/")
@bp.route("/<round_id>/")
@roles_required("respondent")
def overview(round_id=None):
    db, model = get_db(), get_model()
    round_ = round_or_404(round_id)
    state = _state()
    response = find_response(db, round_["id"], state["iso3"])
    instruments = state_instruments(db, round_["id"], state["iso3"])
    progress = _progress(db, model, instruments, response)
    answered_any = any(row.answered for row in progress)
    previous = None
    if response is None or not answered_any:
        previous = previous_submitted(db, state["iso3"], round_["id"])
    return render_template(
        "fill/overview.html",
        round=round_,
        state=state,
        state_name=state_name(state, current_language()),
        response=response,
        progress=progress,
        percent=overall_percent(progress),
        previous=previous,
        editable=_editable(round_, response),
        form=BaseForm(),
    )


@bp.route("/csrf")
@roles_required("respondent")
def csrf():
    """A fresh CSRF token for a page whose token went stale (a new login in another tab)."""
    return jsonify({"csrf_token": generate_csrf()})


@bp.route("/<round_id>/prefill", methods=["POST"], endpoint="prefill")
@roles_required("respondent")
def prefill_round(round_id):
    db, model = get_db(), get_model()
    round_ = round_or_404(round_id)
    if not BaseForm().validate_on_submit():
        abort(400, _("The form expired; reload the page and try again."))
    state = _state()
    source = previous_submitted(db, state["iso3"], round_["id"])
    if source is None:
        abort(404)
    response = get_or_create_response(db, round_["id"], state["iso3"])
    instruments = state_instruments(db, round_["id"], state["iso3"])
    ids = [p.id for inst in model.instruments if inst.code in instruments for p in inst.provisions]
    try:
        count = prefill(db, response["id"], source["id"], user_id=g.user["id"], provision_ids=ids)
    except (WorkflowError, SaveRefused) as exc:
        flash(getattr(exc, "message", str(exc)), "error")
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


@dataclass(frozen=True)
class UndoNotice:
    """Shown next to a provision after a copy: what was done, and the form to undo it."""

    save_id: str
    provision_id: str
    source: str


def _undo_notice(db, response, save_id: str | None) -> UndoNotice | None:
    if not save_id or response is None:
        return None
    changes = saved_changes(db, response["id"], save_id)
    if not changes or not changes[0]["source"].startswith("copy:"):
        return None
    return UndoNotice(save_id, changes[0]["provision_id"], changes[0]["source"][5:])


def _neighbours(progress, chapter):
    keys = [row.chapter.key for row in progress]
    at = keys.index(chapter.key) if chapter.key in keys else -1
    previous = progress[at - 1] if at > 0 else None
    following = progress[at + 1] if 0 <= at < len(progress) - 1 else None
    return previous, following


def render_chapter(
    round_,
    state,
    response,
    instruments,
    chapter_,
    *,
    post=None,
    outcome=None,
    show_posted=False,
    notice=None,
    status=200,
):
    """The chapter page: stored answers, and what the user posted wherever it needs attention."""
    db, model = get_db(), get_model()
    stored = (
        load_answers(db, response["id"], [p.id for p in chapter_.provisions]) if response else {}
    )
    editable = _editable(round_, response)
    related_ids = {r.id for p in chapter_.provisions for r in model.related(p.id)}
    related = compliance_codes(db, response["id"], related_ids) if response and editable else {}
    view = chapter_view(
        model,
        chapter_,
        stored,
        related=related,
        editable=editable,
        post=post,
        conflicts=outcome.conflicts if outcome else (),
        show_posted=show_posted,
        saved_tokens=outcome.tokens if outcome else None,
    )
    progress = _progress(db, model, instruments, response)
    previous, following = _neighbours(progress, chapter_)
    if view.problems or view.conflicts:
        status = 409 if view.conflicts else 422
    return render_template(
        "fill/chapter.html",
        round=round_,
        state=state,
        response=response,
        chapter=chapter_,
        instrument=model.instrument(chapter_.instrument),
        view=view,
        progress=progress,
        percent=overall_percent(progress),
        previous_chapter=previous,
        next_chapter=following,
        editable=editable,
        notice=notice,
        undo=_undo_notice(db, response, request.args.get("undo")),
    ), status


def _json_outcome(post, outcome, progress, sections):
    conflicts = [
        {
            "field": f"{c.provision_id}.{c.question}",
            "provision": c.provision_id,
            "question": c.question,
            "theirs_by": c.theirs_by,
            "theirs_at": c.theirs_at,
        }
        for c in outcome.conflicts
    ]
    body = {
        "saved": [f"{pid}.{q}" for pid, q in outcome.changed],
        "tokens": {token_name(pid, q): token for (pid, q), token in outcome.tokens.items()},
        "errors": {p.field: p.message for p in post.problems},
        "conflicts": conflicts,
        "save_id": outcome.save_id,
        "progress": {
            "percent": overall_percent(progress),
            "chapters": {row.chapter.key: [row.answered, row.applicable] for row in progress},
        },
        "sections": sections,
    }
    status = 409 if conflicts else 422 if post.problems else 200
    if status == 200:
        body["message"] = _saved_message(outcome)
    elif conflicts:
        body["message"] = _(
            "Someone else changed %(n)s answer(s) on this page while you were editing. Both versions are shown below; choose which to keep, then save again.",
            n=len(conflicts),
        )
    else:
        body["message"] = _("Some answers could not be saved; see the messages next to them.")
    return jsonify(body), status


def _sections_html(round_, response, chapter_, post, outcome) -> dict:
    """Server-rendered sections of the provisions that need attention (for the page to swap in)."""
    from flask import get_template_attribute

    pids = {c.provision_id for c in outcome.conflicts} | {p.provision_id for p in post.problems}
    if not pids:
        return {}
    db, model = get_db(), get_model()
    stored = load_answers(db, response["id"], pids)
    view = chapter_view(
        model,
        chapter_,
        stored,
        related={},
        editable=True,
        post=post,
        conflicts=outcome.conflicts,
        saved_tokens=outcome.tokens,
    )
    macro = get_template_attribute("fill/_provision.html", "provision_section")
    return {
        pv.id: str(macro(pv, round_, True, current_language()))
        for pv in view.provisions
        if pv.id in pids
    }


def _not_saved(round_, state, response, instruments, chapter_, post, message, status):
    """The chapter page again after a save that wrote nothing: every posted answer as typed."""
    return render_chapter(
        round_,
        state,
        response,
        instruments,
        chapter_,
        post=post,
        show_posted=True,
        notice=message,
        status=status,
    )


@bp.route("/<round_id>/<instrument>/<chapter_id>", methods=["GET", "POST"])
@roles_required("respondent")
def chapter(round_id, instrument, chapter_id):
    db, model = get_db(), get_model()
    round_ = round_or_404(round_id)
    state = _state()
    instruments = state_instruments(db, round_["id"], state["iso3"])
    chapter_ = _chapter_or_404(model, instruments, instrument, chapter_id)
    response = find_response(db, round_["id"], state["iso3"])
    if request.method == "GET":
        return render_chapter(round_, state, response, instruments, chapter_)
    post = read_chapter_post(chapter_, request.form, lang=current_language())
    if not BaseForm().validate_on_submit():
        # A page left open while the session was renewed elsewhere: nothing is saved, nothing typed
        # is lost. The script fetches a fresh token and saves again; without it the page comes
        # back with the typed answers and a new token, ready to save.
        message = _(
            "Not saved: this page had expired. Your answers are shown as you typed them; press Save again."
        )
        if _wants_json():
            return jsonify({"error": "csrf", "message": message}), 400
        return _not_saved(round_, state, response, instruments, chapter_, post, message, 400)
    if response is None and not post.edits and not post.problems:
        # Nothing to save and nothing started: a Save on an untouched page creates no response.
        if _wants_json():
            progress = _progress(db, model, instruments, None)
            return _json_outcome(post, SaveOutcome(save_id=""), progress, {})
        flash(_("Saved: nothing had changed."), "info")
        return redirect(
            url_for(
                "fill.chapter", round_id=round_["id"], instrument=instrument, chapter_id=chapter_id
            )
        )
    response = response or get_or_create_response(db, round_["id"], state["iso3"])
    try:
        outcome = save_answers(
            db,
            response["id"],
            post.edits,
            user_id=g.user["id"],
            source="autosave" if _wants_json() else "web",
            keep_theirs=post.keep_theirs,
        )
    except SaveRefused as exc:
        status = _refusal_status(exc)
        if _wants_json():
            return jsonify({"error": exc.code, "message": exc.message}), status
        response = find_response(db, round_["id"], state["iso3"])
        return _not_saved(round_, state, response, instruments, chapter_, post, exc.message, status)
    if _wants_json():
        progress = _progress(db, model, instruments, response)
        sections = (
            _sections_html(round_, response, chapter_, post, outcome)
            if request.headers.get("X-Render") == "sections"
            else {}
        )
        return _json_outcome(post, outcome, progress, sections)
    if not post.problems and not outcome.conflicts:
        flash(_saved_message(outcome), "info")
        at = request.form.get("_at") or (outcome.changed[0][0] if outcome.changed else "")
        anchor = f"#{at}" if at in model.provisions else ""
        return redirect(
            url_for(
                "fill.chapter", round_id=round_["id"], instrument=instrument, chapter_id=chapter_id
            )
            + anchor
        )
    return render_chapter(
        round_, state, response, instruments, chapter_, post=post, outcome=outcome
    )


# -- the post that arrived after the session expired ---------------------------------------------


def _replay_target(args: dict):
    db, model = get_db(), get_model()
    round_ = get_round(db, str(args.get("round_id")))
    state = _state()
    instruments = state_instruments(db, round_["id"], state["iso3"]) if round_ else []
    chapter_ = model.chapters.get(f"{args.get('instrument')}/{args.get('chapter_id')}")
    if round_ is None or chapter_ is None or chapter_.instrument not in instruments:
        return None
    return round_, state, instruments, chapter_


def review_replay(packed: dict, token: str):
    """After a new login: show the changes kept from the expired session; nothing is saved yet."""
    target = _replay_target(packed["args"])
    if target is None:
        flash(_("You are logged in, but the page you were saving no longer exists."), "warning")
        return redirect(url_for("fill.overview"))
    round_, state, _instruments, chapter_ = target
    post = _kept_post(packed, chapter_)
    response = find_response(get_db(), round_["id"], state["iso3"])
    changes = pending_changes(get_db(), response["id"] if response else None, get_model(), post)
    return render_template(
        "fill/replay.html",
        round=round_,
        chapter=chapter_,
        changes=changes,
        replay=token,
        form=BaseForm(),
        editable=_editable(round_, response),
    )


register_replay("fill.chapter", review_replay)


@bp.route("/<round_id>/replay", methods=["POST"])
@roles_required("respondent")
def confirm_replay(round_id):
    """Save the kept changes the user has just reviewed and confirmed (or discard them)."""
    from .auth import load_replay

    if not BaseForm().validate_on_submit():
        abort(400, _("The form expired; reload the page and try again."))
    packed = load_replay(request.form.get("replay", ""), g.user["id"])
    if packed is None:
        flash(
            _(
                "Those kept changes can no longer be saved (too old, or not yours); nothing was changed."
            ),
            "warning",
        )
        return redirect(url_for("fill.overview"))
    target = _replay_target(packed["args"])
    if target is None or request.form.get("action") != "save":
        flash(_("The kept changes were discarded; nothing was changed."), "info")
        return redirect(url_for("fill.overview"))
    round_, state, instruments, chapter_ = target
    post = _kept_post(packed, chapter_)
    db = get_db()
    response = get_or_create_response(db, round_["id"], state["iso3"])
    try:
        outcome = save_answers(
            db,
            response["id"],
            post.edits,
            user_id=g.user["id"],
            source="replay",
            keep_theirs=post.keep_theirs,
        )
    except SaveRefused as exc:
        flash(exc.message, "warning")
        return redirect(url_for("fill.overview", round_id=round_["id"]))
    if not post.problems and not outcome.conflicts:
        flash(
            _(
                "Saved the %(n)s answer(s) you had changed before your session expired.",
                n=len(outcome.changed),
            ),
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
        round_, state, response, instruments, chapter_, post=post, outcome=outcome
    )


# -- copy from a related provision, and undo ------------------------------------------------------


@bp.route("/<round_id>/copy/<provision_id>", methods=["POST"])
@roles_required("respondent")
def copy_related(round_id, provision_id):
    """'Import or amend': copy a cross-referenced provision's answers, asking before replacing."""
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
    plan = copy_plan(db, response["id"], target, source)
    chapter_ = model.chapter_of(target)
    back = url_for(
        "fill.chapter", round_id=round_["id"], instrument=target.instrument, chapter_id=chapter_.id
    )
    if plan.replaces_answers and request.form.get("confirm") != "1":
        return render_template("fill/copy_confirm.html", round=round_, plan=plan, back=back)
    bases = {
        item.question.name: request.form.get(f"base.{item.question.name}")
        for item in plan.items
        if request.form.get(f"base.{item.question.name}")
    }
    try:
        outcome = copy_answers(db, response["id"], plan, user_id=g.user["id"], bases=bases)
    except SaveRefused as exc:
        _refused(exc)
    if outcome.conflicts:
        flash(
            _(
                "Not copied: %(n)s answer(s) of %(target)s changed since you confirmed. Look at them and copy again if you still want to.",
                n=len(outcome.conflicts),
                target=target.id,
            ),
            "warning",
        )
        return redirect(back + f"#{target.id}")
    flash(
        _(
            "Copied the answers given for %(source)s into %(target)s. Review and amend them where this provision differs.",
            source=source.id,
            target=target.id,
        ),
        "info",
    )
    return redirect(
        url_for(
            "fill.chapter",
            round_id=round_["id"],
            instrument=target.instrument,
            chapter_id=chapter_.id,
            undo=outcome.save_id if outcome.changed else None,
        )
        + f"#{target.id}"
    )


@bp.route("/<round_id>/undo/<save_id>", methods=["POST"])
@roles_required("respondent")
def undo(round_id, save_id):
    """Put back what one save (a copy) replaced."""
    db, model = get_db(), get_model()
    round_ = round_or_404(round_id)
    if not BaseForm().validate_on_submit():
        abort(400, _("The form expired; reload the page and try again."))
    response = find_response(db, round_["id"], g.user["state_iso3"])
    if response is None:
        abort(404)
    changes = saved_changes(db, response["id"], save_id)
    if not changes or not changes[0]["source"].startswith("copy:"):
        abort(404)  # only a copy can be undone here
    try:
        outcome = undo_save(db, response["id"], save_id, user_id=g.user["id"])
    except SaveRefused as exc:
        _refused(exc)
    if outcome.conflicts:
        flash(
            _(
                "Undone except %(n)s answer(s) changed again since the copy; those keep their newer value.",
                n=len(outcome.conflicts),
            ),
            "warning",
        )
    else:
        flash(_("Undone: the answers are as they were before the copy."), "info")
    provision = model.provisions.get(changes[0]["provision_id"])
    if provision is None:
        return redirect(url_for("fill.overview", round_id=round_["id"]))
    return redirect(
        url_for(
            "fill.chapter",
            round_id=round_["id"],
            instrument=provision.instrument,
            chapter_id=provision.chapter,
        )
        + f"#{provision.id}"
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
        if response is not None and response["status"] in ("submitted", "validated"):
            # A double click or a resubmitted page: the first post did the work.
            flash(_("This self-assessment was already submitted; nothing was changed."), "info")
            return redirect(url_for("fill.profile", round_id=round_["id"]))
        if response is None or not _editable(round_, response):
            abort(409, _("This response cannot be submitted now."))
        if not missing:
            try:
                change_status(db, response["id"], "submitted", user_id=g.user["id"])
            except WorkflowError:
                # Two submits at the same moment: the other one did the work.
                flash(_("This self-assessment was already submitted; nothing was changed."), "info")
                return redirect(url_for("fill.profile", round_id=round_["id"]))
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
    """A chapter save from an expired session: ask to log in; nothing is saved without the user."""
    from .auth import login_page_for_expired_post

    if request.method == "POST" and g.user is None and request.endpoint == "fill.chapter":
        if _wants_json():
            return jsonify(
                {
                    "error": "login_required",
                    "message": _("Your session has expired; log in again to keep saving."),
                }
            ), 401
        return login_page_for_expired_post()
    return None
