"""Logging in and out, invitations, server-side sessions and the role checks every view uses."""

from __future__ import annotations

import functools
import hashlib
import secrets
import sqlite3
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..i18n import N_
from ..storage import health
from ..storage.sessions import delete_session, find_session, start_session_row, touch_session
from ..storage.users import (
    UserError,
    authenticate,
    get_user,
    invitation_user,
    redeem_invitation,
    user_for_api_token,
)
from . import throttle
from .assets import is_asset_request
from .db import get_db
from .forms import InviteForm, LoginForm

bp = Blueprint("auth", __name__)
LOGIN_FAILED = N_("Email or password is not correct.")


def init_app(app):
    throttle.init_app(app)
    app.before_request(load_user)


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def load_user():
    g.user = None
    g.api = False
    if is_asset_request():  # the same file for everyone: no session, no database
        return
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer ") and request.path.startswith("/api/"):
        g.user = user_for_api_token(get_db(), header[7:].strip())
        g.api = g.user is not None
        return
    sid = session.get("sid")
    if not sid:
        return
    db = get_db()
    row = find_session(db, _hash(sid))
    user = get_user(db, row[0]) if row else None
    if (
        user is None
        or not user["active"]
        or row[1] < _stamp_ago(current_app.permanent_session_lifetime)
    ):
        if row is not None and user is not None and user["active"]:
            _note_expired_author(row[0])
        session.clear()
        return
    if row[1] < _stamp_ago(
        SEEN_EVERY
    ):  # note activity at most every few minutes: no write per request
        touch_session(db, _hash(sid))
    g.user = user
    session.permanent = True


SEEN_EVERY = timedelta(minutes=5)


def _stamp_ago(delta: timedelta) -> str:
    return (datetime.now(UTC) - delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def start_session(user: dict) -> None:
    """Rotate the session on login: a fresh cookie and a new server-side session id."""
    session.clear()
    # Flask-WTF caches this request's CSRF token; it belonged to the old session.
    g.pop("csrf_token", None)
    sid = secrets.token_urlsafe(32)
    # Sessions idle longer than the lifetime are over: forget them (keeps the table small).
    start_session_row(
        get_db(),
        _hash(sid),
        user["id"],
        prune_before=_stamp_ago(current_app.permanent_session_lifetime),
    )
    session["sid"] = sid
    session.permanent = True
    g.user = user


def end_session() -> None:
    sid = session.get("sid")
    if sid:
        delete_session(get_db(), _hash(sid))
    session.clear()
    g.user = None


def login_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.user is None:
            if request.path.startswith("/api/"):
                abort(401)
            return redirect(url_for("auth.login", next=request.full_path))
        return view(*args, **kwargs)

    return wrapped


def roles_required(*roles):
    """Only these roles; anyone else gets 404 (respondents must not even learn the page exists)."""

    def decorator(view):
        @functools.wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if g.user["role"] not in roles:
                abort(404)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def _safe_next(target: str | None) -> str | None:
    """`target` when it is a path on this site, else None (the caller goes somewhere safe).

    Refused: absolute and scheme-relative URLs; backslashes (browsers read `/\\host` as
    `//host`); control and other unprintable characters (CR/LF would split the Location header,
    and browsers drop tabs and newlines, so `/<TAB>/host` is `//host`).
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or not target.isprintable():
        return None
    try:
        parts = urlsplit(target)
    except ValueError:  # e.g. an unbalanced "[" where a host would be
        return None
    if parts.scheme or parts.netloc:
        return None
    return target


# A post that arrives after the session expired may be kept for its author only: it must carry the
# CSRF token of that (real, now expired) session, and it is shown to the same user after a new
# login within REPLAY_MAX_AGE, to be confirmed before anything is saved. A cross-site post
# carries no session cookie, so it never qualifies.
REPLAY_MAX_AGE = 30 * 60  # seconds
_replay_handlers: dict = {}


def register_replay(endpoint: str, handler) -> None:
    """`handler(packed, token)` renders the confirmation page for a kept post to `endpoint`."""
    _replay_handlers[endpoint] = handler


def _note_expired_author(user_id: int) -> None:
    """Remember who an expired session belonged to, if this post proves it came from that page."""
    if request.method != "POST":
        return
    from flask_wtf.csrf import validate_csrf
    from wtforms import ValidationError

    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        return
    g.expired_author = user_id


def _replay_serializer():
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="replay-v2")


def replay_token(user_id: int, endpoint: str, view_args: dict, form: dict) -> str:
    """Sign a post kept from an expired session, bound to its author (shown after login)."""
    return _replay_serializer().dumps(
        {"user": user_id, "endpoint": endpoint, "args": view_args, "form": form}
    )


def load_replay(token: str, user_id: int) -> dict | None:
    """The kept post if the token is genuine, recent and `user_id`'s own; else None."""
    try:
        packed = _replay_serializer().loads(token, max_age=REPLAY_MAX_AGE)
    except BadSignature:  # includes SignatureExpired
        return None
    if not isinstance(packed, dict) or packed.get("user") != user_id:
        return None
    if packed.get("endpoint") not in _replay_handlers:
        return None
    return packed


def login_page_for_expired_post():
    """A post from an expired session: ask to log in again; keep the post only for its author."""
    author = getattr(g, "expired_author", None)
    token = ""
    if author is not None:
        form_data = {key: request.form.getlist(key) for key in request.form if key != "csrf_token"}
        token = replay_token(author, request.endpoint, dict(request.view_args or {}), form_data)
        flash(
            _(
                "Your session has expired. Log in again: you will see the changes you just made and can save them."
            ),
            "warning",
        )
    else:
        flash(
            _(
                "Your session has expired and this change could not be kept on the server; nothing was saved. Log in again, then reopen the page to continue."
            ),
            "warning",
        )
    # formdata=None: the login page takes nothing from the (possibly forged) post it answers.
    form = LoginForm(formdata=None, next=request.path, replay=token)
    return render_template("login.html", form=form, replaying=bool(token)), 401


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    refusal = throttle.refuse_post("login") if request.method == "POST" else None
    valid = refusal is None and form.validate_on_submit()
    if valid:
        refusal = throttle.refuse_account(form.email.data)
    if refusal is not None:
        # The password is not checked at all: a refused address learns nothing by guessing.
        return refusal.render("login.html", form=form, replaying=bool(form.replay.data))
    if valid:
        user = authenticate(get_db(), form.email.data, form.password.data)
        if user is None:
            throttle.note_failed_login(form.email.data)
            form.password.errors.append(_(LOGIN_FAILED))
        else:
            start_session(user)
            packed = load_replay(form.replay.data, user["id"]) if form.replay.data else None
            if packed is not None and user["role"] == "respondent":
                return _replay_handlers[packed["endpoint"]](packed, form.replay.data)
            return redirect(_safe_next(form.next.data) or url_for("auth.home"))
    status = 200 if request.method == "GET" or not form.errors else 400
    return render_template("login.html", form=form, replaying=bool(form.replay.data)), status


@bp.route("/logout", methods=["POST"])
def logout():
    from .forms import BaseForm

    if not BaseForm().validate_on_submit():
        abort(400, _("The logout form expired; reload the page and try again."))
    end_session()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/invite/<token>", methods=["GET", "POST"])
def invite(token):
    refusal = throttle.refuse_post("invite") if request.method == "POST" else None
    db = get_db()
    user = invitation_user(db, token)
    if refusal is not None:  # before the token is judged: guessing links is throttled too
        return refusal.render("invite.html", form=InviteForm(), invalid=user is None, invited=user)
    if user is None:
        return render_template("invite.html", form=None, invalid=True), 404
    form = InviteForm()
    if form.validate_on_submit():
        try:
            user = redeem_invitation(db, token, form.password.data)
        except UserError as exc:
            form.password.errors.append(str(exc))
        else:
            start_session(user)
            flash(_("Your password is set. Welcome."), "info")
            return redirect(url_for("auth.home"))
    return render_template("invite.html", form=form, invalid=False, invited=user)


@bp.route("/")
def home():
    if g.user is None:
        return redirect(url_for("auth.login"))
    if g.user["role"] == "respondent":
        return redirect(url_for("fill.overview"))
    return redirect(url_for("review.responses"))


@bp.route("/healthz")
def healthz():
    """200 when the database takes a write; 503 with the reason (never a trace) when it does not."""
    try:
        health.record_check(get_db())
    except (sqlite3.Error, OSError) as exc:
        current_app.logger.warning("health check failed: %s", exc)
        return {"status": "unavailable", "reason": f"database write failed: {exc}"}, 503
    return {"status": "ok"}
