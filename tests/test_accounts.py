"""Accounts and sessions, a repeated submit, overlong review comments, hostile `next=` and /healthz (issue 11)."""

from __future__ import annotations

import html
import re
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlite_utils
from markupsafe import escape

from survey.storage.responses import change_status, find_response, get_or_create_response
from survey.storage.rounds import set_state_instruments
from survey.storage.users import create_invitation, set_password
from tests.conftest import PASSWORD
from tests.test_web_fill import fill_all_tip

NEW_PASSWORD = "a brand new passphrase"


def sessions_of(db, user_id: int) -> int:
    return db.execute("SELECT count(*) FROM sessions WHERE user_id = ?", [user_id]).fetchone()[0]


def logged_in(helper) -> bool:
    """The home page sends a logged-in user on to their pages and anyone else to the login page."""
    return helper.client.get("/").headers["Location"] != "/login"


# -- submitting twice --------------------------------------------------------------------------


def test_a_second_submit_redirects_to_the_profile_and_records_nothing(
    login_as, db, round_id, questionnaire
):
    ken = login_as("ken@example.org")
    set_state_instruments(db, round_id, "KEN", ["TIP"])
    fill_all_tip(ken, round_id, questionnaire)
    url = f"/fill/{round_id}/submit"
    # A double click: both posts come from the same page, the second before the first's redirect.
    token = ken.csrf(url)
    first = ken.client.post(url, data={"csrf_token": token})
    second = ken.client.post(url, data={"csrf_token": token})
    assert first.status_code == 302
    assert second.status_code == 302
    assert second.headers["Location"] == f"/fill/{round_id}/profile"
    page = ken.client.get(second.headers["Location"]).get_data(as_text=True)
    assert re.search(r'<p class="flash info">[^<]*already submitted', page)
    response_id = find_response(db, round_id, "KEN")["id"]
    events = db.execute(
        "SELECT to_status FROM response_events WHERE response_id = ?", [response_id]
    ).fetchall()
    assert [e[0] for e in events] == ["submitted"]


# -- new passwords and disabled accounts end sessions ------------------------------------------


def test_setting_a_password_by_invitation_ends_the_users_other_sessions(
    login_as, actions, db, people
):
    ken = people["ken"]
    elsewhere = login_as("ken@example.org")  # e.g. a stolen or forgotten session
    other_user = login_as("fra@example.org")
    assert logged_in(elsewhere)
    token = create_invitation(db, ken["id"])
    redeemed = actions.post(f"/invite/{token}", {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert redeemed.status_code == 302
    assert logged_in(actions)  # the browser that set the password is logged in ...
    assert not logged_in(elsewhere)  # ... every other session of that user is over
    assert sessions_of(db, ken["id"]) == 1
    assert logged_in(other_user)


def test_set_password_ends_every_session_of_the_user(login_as, db, people):
    first, second = login_as("ken@example.org"), login_as("ken@example.org")
    colleague = login_as("ken2@example.org")
    set_password(db, people["ken"]["id"], NEW_PASSWORD)
    assert not logged_in(first) and not logged_in(second)
    assert sessions_of(db, people["ken"]["id"]) == 0
    assert logged_in(colleague)
    assert logged_in(login_as("ken@example.org", NEW_PASSWORD))


def test_disabling_an_account_ends_its_sessions_and_enabling_does_not_revive_them(
    login_as, db, people
):
    ken = login_as("ken@example.org")
    admin = login_as("boss@example.org")
    user_id = people["ken"]["id"]
    disabled = admin.post(f"/admin/users/{user_id}/disable", {}, form_url="/admin/users")
    assert disabled.status_code == 302
    assert sessions_of(db, user_id) == 0
    admin.post(f"/admin/users/{user_id}/enable", {}, form_url="/admin/users")
    assert not logged_in(ken)
    assert logged_in(login_as("ken@example.org"))


def test_end_user_sessions_can_keep_one_session_and_counts_the_rest(db, people):
    from survey.storage.sessions import end_user_sessions, start_session_row

    ken, fra = people["ken"]["id"], people["fra"]["id"]
    for id_hash, user_id in (("a", ken), ("b", ken), ("c", ken), ("d", fra)):
        start_session_row(db, id_hash, user_id, prune_before="2000-01-01T00:00:00Z")
    assert end_user_sessions(db, ken, except_id_hash="b") == 2
    assert [r[0] for r in db.execute("SELECT id_hash FROM sessions ORDER BY 1")] == ["b", "d"]


# -- invitations -------------------------------------------------------------------------------


def test_a_new_invitation_revokes_the_older_links_of_that_user_only(client, login_as, db, people):
    older = create_invitation(db, people["ken"]["id"])
    colleague = create_invitation(db, people["ken2"]["id"])
    admin = login_as("boss@example.org")
    issued = admin.post(
        f"/admin/users/{people['ken']['id']}/invite",
        {},
        form_url="/admin/users",
        follow_redirects=True,
    )
    newest = re.search(r"/invite/([\w-]+)", issued.get_data(as_text=True)).group(1)
    old_page = client.get(f"/invite/{older}")
    assert old_page.status_code == 404
    assert "This invitation link is invalid" in old_page.get_data(as_text=True)
    assert client.get(f"/invite/{newest}").status_code == 200
    assert client.get(f"/invite/{colleague}").status_code == 200


# -- return comments longer than the limit -----------------------------------------------------


@pytest.fixture
def submitted_ken(db, round_id):
    response = get_or_create_response(db, round_id, "KEN")
    change_status(db, response["id"], "submitted", user_id=None)
    return response["id"]


def test_an_overlong_return_comment_is_shown_again_with_an_error_and_nothing_is_saved(
    login_as, db, round_id, submitted_ken
):
    analyst = login_as("analyst@example.org")
    url = f"/responses/{round_id}/KEN/"
    comment = "Cite the 2019 amendment <b>&amp;</b> 'TIP-5'\n" + "🙂" * 20_000
    page = analyst.post(url, {"action": "return", "comment": comment})
    assert page.status_code == 422
    text = page.get_data(as_text=True)
    assert "The form expired" not in text
    assert str(escape(comment)) in text  # what was typed is still in the textarea
    field = re.search(r"<textarea[^>]*>", text).group(0)
    assert 'aria-describedby="comment-error"' in field and 'aria-invalid="true"' in field
    error = re.search(r'id="comment-error"[^>]*>(.*?)</p>', text, re.S).group(1)
    assert f"{len(comment):,}" in error and "20,000" in error
    assert find_response(db, round_id, "KEN")["status"] == "submitted"
    assert db.execute(
        "SELECT count(*) FROM response_events WHERE response_id = ?", [submitted_ken]
    ).fetchone() == (1,)


def test_a_return_comment_of_exactly_the_limit_is_saved(login_as, db, round_id, submitted_ken):
    analyst = login_as("analyst@example.org")
    comment = "x" * 20_000
    saved = analyst.post(f"/responses/{round_id}/KEN/", {"action": "return", "comment": comment})
    assert saved.status_code == 302
    assert find_response(db, round_id, "KEN")["returned_comment"] == comment


def test_a_review_post_without_a_csrf_token_still_says_the_form_expired(
    login_as, round_id, submitted_ken
):
    analyst = login_as("analyst@example.org")
    page = analyst.client.post(
        f"/responses/{round_id}/KEN/", data={"action": "return", "comment": "x" * 30_000}
    )
    assert page.status_code == 400
    assert "The form expired" in page.get_data(as_text=True)


# -- where to go after logging in or switching language ----------------------------------------

HOSTILE_NEXT = [
    "/\r\nSet-Cookie: x=1",
    "\\\\evil.example",
    "/\\evil.example",  # browsers read /\host as //host
    "/\t/evil.example",  # browsers drop tabs and newlines: //evil.example
    "/%0d%0a",
    "/\x00",
    "/\x7f",
    "//evil.example",
    "//[evil",  # urlsplit raises on an unbalanced IPv6 bracket
    "https://evil.example/",
    "javascript:alert(1)",
    " /evil",
]


def is_local(location: str) -> bool:
    parts = urlsplit(location)
    return (
        location.startswith("/")
        and not location.startswith("//")
        and "\\" not in location
        and location.isprintable()
        and not parts.scheme
        and not parts.netloc
    )


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_hostile_next_never_errors_and_falls_back_to_a_local_page(actions, target):
    assert actions.client.get("/login", query_string={"next": target}).status_code == 200
    login = actions.post(
        "/login", {"email": "ken@example.org", "password": PASSWORD, "next": target}
    )
    assert login.status_code == 302
    assert is_local(login.headers["Location"]), login.headers["Location"]
    assert "evil" not in login.headers["Location"]
    switch = actions.post("/language", {"lang": "fr", "next": target}, form_url="/login")
    assert switch.status_code == 302
    assert is_local(switch.headers["Location"]), switch.headers["Location"]
    assert "evil" not in switch.headers["Location"]


def test_a_percent_encoded_crlf_in_the_link_survives_the_login_form(actions):
    """The login page carries `next` in a hidden field; the browser posts back what it was given."""
    page = actions.client.get("/login?next=/%0d%0aSet-Cookie:%20x=1")
    assert page.status_code == 200
    carried = re.search(r'name="next" type="hidden" value="([^"]*)"', page.text)
    target = html.unescape(carried.group(1))
    assert "\r\n" in target  # the decoded CR/LF did reach the form
    login = actions.post(
        "/login", {"email": "ken@example.org", "password": PASSWORD, "next": target}
    )
    assert login.status_code == 302
    assert is_local(login.headers["Location"]) and "Set-Cookie" not in login.headers["Location"]


def test_a_local_next_is_kept(actions, round_id):
    target = f"/fill/{round_id}/?tab=2"
    login = actions.post(
        "/login", {"email": "ken@example.org", "password": PASSWORD, "next": target}
    )
    assert login.headers["Location"] == target


# -- /healthz ----------------------------------------------------------------------------------


def test_healthz_writes_to_the_database(client, db):
    for _ in range(2):
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json == {"status": "ok"}
    assert db.execute("SELECT count(*) FROM health").fetchone()[0] == 1


def test_healthz_reports_a_read_only_database_as_unavailable(client, monkeypatch):
    import survey.web.db as web_db

    def read_only(path, *, migrate=True):
        uri = Path(path).resolve().as_uri() + "?mode=ro"
        return sqlite_utils.Database(sqlite3.connect(uri, uri=True, isolation_level=None))

    monkeypatch.setattr(web_db, "connect", read_only)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert "readonly" in response.json["reason"]
    assert "Traceback" not in response.get_data(as_text=True)


def test_healthz_reports_a_failed_write_as_unavailable(client, monkeypatch):
    import survey.storage.health as health

    def fail(db):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(health, "record_check", fail)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json == {
        "status": "unavailable",
        "reason": "database write failed: disk I/O error",
    }
