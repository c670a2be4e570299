"""The web application: factory, security headers, error pages; one blueprint per area."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Flask, g, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from ..exports.jobs import jobs_file_for
from ..settings import setting
from ..storage import database_path, instance_path
from .i18n import error_description

MAX_UPLOAD_BYTES = 10 * 1024 * 1024


def _secret_key(instance: Path) -> str:
    """SECRET_KEY from the environment, else a random key generated once and kept in the instance."""
    env = setting("SECRET_KEY")
    if env:
        return env
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__)
    config = dict(config or {})
    db_file = Path(config.get("DATABASE") or database_path())
    instance = Path(
        config.get("INSTANCE_PATH")
        or (db_file.parent if config.get("DATABASE") else instance_path())
    )
    app.config.update(
        DATABASE=str(db_file),
        QUESTIONNAIRE_DIR=None,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Secure cookies whenever the app is reached over HTTPS (set SURVEY_HTTPS=1 behind a proxy).
        SESSION_COOKIE_SECURE=setting("HTTPS"),
        SESSION_COOKIE_NAME="survey_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
        MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES,
        # One form field may be as long as a whole post: an over-long answer then gets its own
        # named error (survey.answers.MAX_TEXT) with the rest saved, instead of Werkzeug's 500 kB
        # per-field default refusing the whole post (an autosave of 170,000 CJK characters).
        MAX_FORM_MEMORY_SIZE=MAX_UPLOAD_BYTES,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session: long pages must still save
        BASE_URL=None,
        TRUSTED_PROXIES=setting("TRUSTED_PROXIES"),
    )
    app.config.update(config)
    # The one folder the app may write to (secret key, compiled catalogs, precompressed
    # plotly.js, built exports); Flask's own app.instance_path is not used.
    app.config["INSTANCE_PATH"] = str(instance)
    # Exports built in the background (survey/exports/jobs.py): the queue file next to the
    # database, and whether builds run in a worker or inside the request.
    app.config.setdefault("JOBS_FILE", jobs_file_for(db_file))
    app.config.setdefault("EXPORT_JOBS", setting("EXPORT_JOBS"))
    if app.config["TRUSTED_PROXIES"]:
        # The client address and scheme as the trusted proxies saw them (login throttling, HTTPS).
        proxies = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(instance)

    from ..storage import connect

    connect(app.config["DATABASE"]).conn.close()  # run migrations once at start-up

    from . import admin, assets, auth, compression, db, fill, i18n, review, widgets

    compression.init_app(app)  # first: its after_request hook then runs last
    assets.init_app(app)  # before the blueprints, which register their own assets
    db.init_app(app)
    auth.init_app(app)
    i18n.init_app(app)
    # The provision header and the chapter form's parts: macros rendered once per language.
    widgets.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(fill.bp)
    app.register_blueprint(review.bp)
    app.register_blueprint(admin.bp)
    for optional in ("reports", "api", "exports", "national", "coverage"):
        try:
            module = __import__(f"survey.web.{optional}", fromlist=["bp"])
        except ModuleNotFoundError as exc:
            if exc.name != f"survey.web.{optional}":
                raise
            continue
        app.register_blueprint(module.bp)
        if hasattr(module, "init_app"):
            module.init_app(app)

    @app.before_request
    def _nonce():
        g.csp_nonce = secrets.token_urlsafe(16)

    @app.after_request
    def _security_headers(response):
        nonce = getattr(g, "csp_nonce", "")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; "
            f"script-src 'self' 'nonce-{nonce}'; "
            # plotly.js inserts <style> elements for its charts; scripts stay strict.
            "style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; font-src 'self'; connect-src 'self'; "
            "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if getattr(g, "user", None) is not None:
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc):
        if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
            return {"error": exc.name, "message": error_description(exc)}, exc.code
        return render_template("errors/error.html", error=exc), exc.code

    @app.errorhandler(Exception)
    def _unexpected(exc):  # never a stack trace for a user
        app.logger.exception("unhandled error on %s", request.path)
        if request.path.startswith("/api/"):
            return {
                "error": "Internal Server Error",
                "message": "Something went wrong; nothing was lost.",
            }, 500
        return render_template("errors/500.html"), 500

    @app.context_processor
    def _globals():
        return {"csp_nonce": getattr(g, "csp_nonce", ""), "user": getattr(g, "user", None)}

    from flask_wtf.csrf import generate_csrf

    app.jinja_env.globals["csrf_token"] = generate_csrf
    app.jinja_env.globals["url_endpoints"] = app.view_functions
    return app
