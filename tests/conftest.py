"""Shared fixtures: the shipped questionnaire, a prepared database, the Flask app and its clients."""

from __future__ import annotations

import re

import pytest

from survey.questionnaire import get_questionnaire
from survey.setup import prepare
from survey.storage.users import create_user
from survey.web import create_app

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
ANSWER_TOKEN = re.compile(r'name="([^"]+)\.v" value="([0-9a-f]{12})"')


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch, request):
    """Cheap hashes in tests (scrypt costs ~0.1 s a hash); tests marked `real_hashing` keep scrypt."""
    if request.node.get_closest_marker("real_hashing"):
        return
    from werkzeug.security import generate_password_hash

    import survey.storage.users as users

    monkeypatch.setattr(
        users,
        "generate_password_hash",
        lambda pw: generate_password_hash(pw, method="pbkdf2:sha256:1000"),
    )
    monkeypatch.setattr(
        users, "_DUMMY_HASH", generate_password_hash("x", method="pbkdf2:sha256:1000")
    )


@pytest.fixture(scope="session")
def questionnaire():
    return get_questionnaire()


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "survey.db"
    prepare(path)
    return path


@pytest.fixture
def db(db_path):
    from survey.storage import connect

    database = connect(db_path)
    yield database
    database.conn.close()


@pytest.fixture
def people(db):
    """One account per role, and respondents of two States (Kenya and France)."""
    return {
        "ken": create_user(
            db, "ken@example.org", "respondent", state_iso3="KEN", password=PASSWORD
        ),
        "ken2": create_user(
            db, "ken2@example.org", "respondent", state_iso3="KEN", password=PASSWORD
        ),
        "fra": create_user(
            db, "fra@example.org", "respondent", state_iso3="FRA", password=PASSWORD
        ),
        "analyst": create_user(db, "analyst@example.org", "analyst", password=PASSWORD),
        "admin": create_user(db, "boss@example.org", "admin", password=PASSWORD),
    }


def make_app(db_path, instance, **config):
    """The app on a test database: CSRF on, rate limits off, exports built inside the request
    unless `EXPORT_JOBS="worker"` is given (tests/test_export_jobs.py runs a worker)."""
    app = create_app(
        {
            "DATABASE": str(db_path),
            "SECRET_KEY": "test-secret",
            "RATELIMIT_ENABLED": False,
            "INSTANCE_PATH": str(instance),
            "EXPORT_JOBS": "immediate",
            **config,
        }
    )
    app.testing = True
    # Flask's TESTING turns off nothing we rely on: CSRF stays on in every test.
    return app


@pytest.fixture
def app(db_path, people, tmp_path):
    return make_app(db_path, tmp_path)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def round_id(db):
    from survey.storage.rounds import current_round

    return current_round(db)["id"]


class Actions:
    """Small helper for logging in and posting forms with their CSRF token."""

    def __init__(self, client):
        self.client = client

    def csrf(self, url="/login"):
        page = self.client.get(url)
        match = CSRF.search(page.get_data(as_text=True))
        assert match, f"no CSRF token on {url} ({page.status_code})"
        return match.group(1)

    def login(self, email, password=PASSWORD):
        token = self.csrf("/login")
        return self.client.post(
            "/login", data={"email": email, "password": password, "csrf_token": token}
        )

    def logout(self):
        page = self.client.get("/")
        if page.status_code in (301, 302):
            page = self.client.get(page.headers["Location"])
        match = CSRF.search(page.get_data(as_text=True))
        token = match.group(1) if match else ""
        return self.client.post("/logout", data={"csrf_token": token})

    def post(self, url, data, *, form_url=None, **kwargs):
        """Post like a browser: with the page's CSRF token and, for every answer posted, the
        hidden token of the value the page showed (unless the test gives its own)."""
        data = dict(data)
        if "csrf_token" not in data:
            page = self.client.get(form_url or url)
            text = page.get_data(as_text=True)
            match = CSRF.search(text)
            assert match, f"no CSRF token on {form_url or url} ({page.status_code})"
            data["csrf_token"] = match.group(1)
            shown = dict(ANSWER_TOKEN.findall(text))
            for name in list(data):
                if name in shown and f"{name}.v" not in data:
                    data[f"{name}.v"] = shown[name]
        return self.client.post(url, data=data, **kwargs)


@pytest.fixture
def actions(client):
    return Actions(client)


@pytest.fixture
def login_as(app):
    """A fresh browser-like client logged in as the given user."""

    def make(email, password=PASSWORD):
        helper = Actions(app.test_client())
        response = helper.login(email, password)
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
        return helper

    return make
