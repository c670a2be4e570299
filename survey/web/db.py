"""One database connection per request, opened lazily and closed at teardown."""

from __future__ import annotations

from flask import current_app, g

from ..questionnaire import get_questionnaire
from ..storage import connect


def get_db():
    if "db" not in g:
        g.db = connect(current_app.config["DATABASE"], migrate=False)
    return g.db


def get_model():
    """The questionnaire, looked up once per request (the loader re-checks file times on each call)."""
    if "model" not in g:
        g.model = get_questionnaire(current_app.config["QUESTIONNAIRE_DIR"])
    return g.model


def close_db(_exc=None):
    db = g.pop("db", None)
    if db is not None:
        db.conn.close()


def init_app(app):
    app.teardown_appcontext(close_db)
