"""One database connection per request, opened lazily and closed at teardown."""

from __future__ import annotations

from flask import abort, current_app, g
from flask_babel import gettext

from ..questionnaire import get_questionnaire
from ..storage import connect
from ..storage.rounds import current_round, get_round


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


def round_or_404(round_id: str | None = None) -> dict:
    """The named round (or the current one when none is named); 404 when there is no such round."""
    db = get_db()
    round_ = get_round(db, round_id) if round_id else current_round(db)
    if round_ is None:
        abort(404, gettext("There is no round '%(id)s'.", id=round_id or ""))
    return round_
