"""Logging in and out, invitations, server-side sessions and the role checks every view uses."""

from __future__ import annotations

import functools
import hashlib
import secrets
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
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from itsdangerous import BadSignature, URLSafeSerializer

from ..i18n import N_
from ..storage import transaction
from ..storage.migrations import now
from ..storage.users import (
    UserError,
    authenticate,
    get_user,
    invitation_user,
    redeem_invitation,
    user_for_api_token,
)
from .db import get_db
from .forms import InviteForm, LoginForm

bp = Blueprint("auth", __name__)
limiter = Limiter(key_func=get_remote_address, default_limits=[])
LOGIN_FAILED = N_("Email or password is not correct.")


def init_app(app):
    app.config.setdefault("RATELIMIT_ENABLED", True)
    limiter.init_app(app)
    app.before_request(load_user)


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def load_user():
    g.user = None
    g.api = False
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer ") and request.path.startswith("/api/"):
        g.user = user_for_api_token(get_db(), header[7:].strip())
        g.api = g.user is not None
        return
    sid = session.get("sid")
    if not sid:
        return
    db = get_db()
    row = db.execute(
        "SELECT user_id, last_seen_at FROM sessions WHERE id_hash = ?", [_hash(sid)]
    ).fetchone()
    user = get_user(db, row[0]) if row else None
    if (
        user is None
        or not user["active"]
        or row[1] < _stamp_ago(current_app.permanent_session_lifetime)
    ):
        session.clear()
        return
    if row[1] < _stamp_ago(
        SEEN_EVERY
    ):  # note activity at most every few minutes: no write per request
        with transaction(db):
            db.execute(
                "UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?", [now(), _hash(sid)]
            )
    g.user = user
    session.permanent = True


SEEN_EVERY = timedelta(minutes=5)


def _stamp_ago(delta: timedelta) -> str:
    return (datetime.now(UTC) - delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def start_session(user: dict) -> None:
    """Rotate the session on login: a fresh cookie and a new server-side session id."""
    session.clear()
    sid = secrets.token_urlsafe(32)
    db = get_db()
    with transaction(db):
        stamp = now()
        # Sessions idle longer than the lifetime are over: forget them (keeps the table small).
        db.execute(
            "DELETE FROM sessions WHERE last_seen_at < ?",
            [_stamp_ago(current_app.permanent_session_lifetime)],
        )
        db.execute(
            "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at) VALUES (?, ?, ?, ?)",
            [_hash(sid), user["id"], stamp, stamp],
        )
    session["sid"] = sid
    session.permanent = True
    g.user = user


def end_session() -> None:
    sid = session.get("sid")
    if sid:
        db = get_db()
        with transaction(db):
            db.execute("DELETE FROM sessions WHERE id_hash = ?", [_hash(sid)])
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
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def _replay_serializer():
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="replay")


def replay_token(endpoint: str, view_args: dict, form: dict) -> str:
    """Pack a post that arrived after the session expired, to be saved right after login."""
    return _replay_serializer().dumps({"endpoint": endpoint, "args": view_args, "form": form})


def login_page_for_expired_post():
    """A post from an expired session: ask to log in again and keep what was typed."""
    form_data = {key: request.form.getlist(key) for key in request.form if key != "csrf_token"}
    token = replay_token(request.endpoint, dict(request.view_args or {}), form_data)
    form = LoginForm(next=request.path, replay=token)
    flash(
        _(
            "Your session has expired. Log in again: the changes you just made are kept and will be saved."
        ),
        "warning",
    )
    return render_template("login.html", form=form, replaying=True), 401


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], methods=["POST"])
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        user = authenticate(get_db(), form.email.data, form.password.data)
        if user is None:
            form.password.errors.append(_(LOGIN_FAILED))
        else:
            start_session(user)
            if form.replay.data:
                try:
                    packed = _replay_serializer().loads(form.replay.data)
                except BadSignature:
                    packed = None
                if (
                    packed
                    and packed.get("endpoint") == "fill.chapter"
                    and user["role"] == "respondent"
                ):
                    from .fill import replay_chapter_save

                    return replay_chapter_save(packed["args"], packed["form"])
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
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], methods=["POST"])
def invite(token):
    db = get_db()
    user = invitation_user(db, token)
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
    get_db().execute("SELECT 1").fetchone()
    return {"status": "ok"}
