"""Administration: users (with invitation links) and survey rounds."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from wtforms import SelectChoice

from ..storage.rounds import (
    TITLE_COLUMNS,
    RoundError,
    RoundTitleError,
    create_round,
    get_round,
    list_rounds,
    round_title,
    set_round_status,
    set_round_titles,
)
from ..storage.states import list_states
from ..storage.users import (
    UserError,
    create_invitation,
    create_user,
    get_user,
    list_users,
    set_active,
)
from .auth import roles_required
from .db import get_db, get_model
from .forms import BaseForm, RoundForm, RoundTitlesForm, UserForm
from .i18n import current_language

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _invite_url(token: str) -> str:
    return url_for("auth.invite", token=token, _external=True)


@bp.route("/users", methods=["GET", "POST"])
@roles_required("admin")
def users():
    db = get_db()
    form = UserForm()
    form.state.choices = [("", "—")] + [
        (r["iso3"], f"{r['name_en']} ({r['iso3']})") for r in list_states(db)
    ]
    invite_link = None
    if form.validate_on_submit():
        try:
            user = create_user(
                db,
                form.email.data,
                form.role.data,
                state_iso3=form.state.data or None,
                name=form.name.data or None,
            )
        except UserError as exc:
            form.email.errors.append(str(exc))
        else:
            invite_link = _invite_url(create_invitation(db, user["id"]))
            flash(
                _(
                    "Added %(email)s. Send them the one-time link below (valid 72 hours).",
                    email=user["email"],
                ),
                "info",
            )
    return render_template(
        "admin/users.html",
        form=form,
        users=list_users(db),
        invite_link=invite_link,
        action_form=BaseForm(),
    )


@bp.route("/users/<int:user_id>/<action>", methods=["POST"])
@roles_required("admin")
def user_action(user_id, action):
    db = get_db()
    if not BaseForm().validate_on_submit():
        abort(400, _("The form expired; reload the page and try again."))
    user = get_user(db, user_id)
    if user is None:
        abort(404)
    invite_link = None
    if action == "invite":
        invite_link = _invite_url(create_invitation(db, user_id))
        flash(
            _(
                "New one-time link for %(email)s (valid 72 hours): %(link)s",
                email=user["email"],
                link=invite_link,
            ),
            "info",
        )
    elif action in ("disable", "enable"):
        set_active(db, user_id, action == "enable")
        flash(
            _("%(email)s is now enabled.", email=user["email"])
            if action == "enable"
            else _("%(email)s is now disabled.", email=user["email"]),
            "info",
        )
    else:
        abort(404)
    return redirect(url_for("admin.users"))


def _titles(form) -> dict[str, str]:
    """The titles typed in a round form, by language (TITLE_COLUMNS names the fields)."""
    return {lang: form[field].data or "" for lang, field in TITLE_COLUMNS.items()}


def _title_error(form, exc: RoundTitleError) -> None:
    form[TITLE_COLUMNS[exc.lang]].errors.append(str(exc))


@bp.route("/rounds", methods=["GET", "POST"])
@roles_required("admin")
def rounds():
    db = get_db()
    form = RoundForm()
    existing = list_rounds(db)
    lang = current_language()
    form.previous.choices = [SelectChoice("", "—")] + [
        SelectChoice(r["id"], round_title(r, lang)) for r in existing
    ]
    if form.validate_on_submit():
        try:
            create_round(
                db,
                form.round_id.data.strip(),
                get_model(),
                titles=_titles(form),
                previous_round=form.previous.data or None,
            )
        except RoundTitleError as exc:
            _title_error(form, exc)
        except RoundError as exc:
            form.round_id.errors.append(str(exc))
        else:
            flash(_("Round %(id)s is open.", id=form.round_id.data), "info")
            return redirect(url_for("admin.rounds"))
    return render_template(
        "admin/rounds.html",
        form=form,
        rounds=existing,
        action_form=BaseForm(),
        title_fields=TITLE_COLUMNS,
    )


@bp.route("/rounds/<round_id>", methods=["GET", "POST"])
@roles_required("admin")
def round_titles(round_id):
    """Edit a round's title in each language."""
    db = get_db()
    round_ = get_round(db, round_id)
    if round_ is None:
        abort(404)
    form = RoundTitlesForm(data={field: round_[field] for field in TITLE_COLUMNS.values()})
    if form.validate_on_submit():
        try:
            set_round_titles(db, round_id, _titles(form))
        except RoundTitleError as exc:
            _title_error(form, exc)
        else:
            flash(_("The titles of round %(id)s are saved.", id=round_id), "info")
            return redirect(url_for("admin.rounds"))
    return render_template(
        "admin/round_titles.html", form=form, round=round_, title_fields=TITLE_COLUMNS
    )


@bp.route("/rounds/<round_id>/<action>", methods=["POST"])
@roles_required("admin")
def round_action(round_id, action):
    if not BaseForm().validate_on_submit() or action not in ("open", "close"):
        abort(400)
    try:
        set_round_status(get_db(), round_id, "open" if action == "open" else "closed")
    except RoundError as exc:
        abort(400, str(exc))
    flash(
        _("Round %(id)s is now open.", id=round_id)
        if action == "open"
        else _("Round %(id)s is now closed.", id=round_id),
        "info",
    )
    return redirect(url_for("admin.rounds"))
