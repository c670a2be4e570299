"""Hostile input, headers, sessions, rate limiting, durability and fuzzing (issue 7)."""

from __future__ import annotations

import re

import pytest

from survey.storage.responses import (
    find_response,
    get_or_create_response,
    load_answers,
)

CHAPTER = "/fill/{round}/TIP/general_provisions"
XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&"
FORMULA = '=HYPERLINK("http://evil.example","click")'
RTL = "law \u202eevil\u202c text"


def tip5(**answers):
    return {"TIP-5.present": "1", **{f"TIP-5.{q}": v for q, v in answers.items()}}


@pytest.fixture
def ken(login_as):
    return login_as("ken@example.org")


@pytest.fixture
def analyst(login_as):
    return login_as("analyst@example.org")


def submit_hostile(ken, db, round_id, text):
    response = ken.post(
        CHAPTER.format(round=round_id),
        tip5(
            compliance="not_yet",
            measures=text,
            steps=text,
            ta_needed="yes",
            ta_types="legal_advice",
        ),
    )
    assert response.status_code in (302, 422)
    return response


def test_xss_payload_is_plain_text_in_every_page(ken, analyst, db, round_id):
    submit_hostile(ken, db, round_id, XSS)
    response_id = find_response(db, round_id, "KEN")["id"]
    from survey.storage.responses import change_status

    pages = [
        ken.client.get(CHAPTER.format(round=round_id)),
        ken.client.get(f"/fill/{round_id}/history/TIP-5"),
        ken.client.get(f"/fill/{round_id}/print"),
        ken.client.get(f"/fill/{round_id}/profile"),
    ]
    change_status(db, response_id, "submitted", user_id=None)
    pages += [
        analyst.client.get(f"/responses/{round_id}/KEN/TIP/general_provisions"),
        analyst.client.get(f"/responses/{round_id}/KEN/history/TIP-5"),
        analyst.client.get(f"/reports/{round_id}/priorities?grouping=global&region=World"),
        analyst.client.get(
            f"/reports/{round_id}/priorities?grouping=global&region=World&format=html"
        ),
    ]
    for page in pages:
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "<script>alert(1)" not in text
        assert "<img src=x" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0].get_data(as_text=True)
    api = analyst.client.get(f"/api/v1/rounds/{round_id}/states/KEN/scores")
    assert api.mimetype == "application/json"


def test_returned_comment_is_plain_text(ken, analyst, db, round_id):
    from survey.storage.responses import change_status

    response = get_or_create_response(db, round_id, "KEN")
    change_status(db, response["id"], "submitted", user_id=None)
    analyst.post(f"/responses/{round_id}/KEN/", {"action": "return", "comment": XSS})
    text = ken.client.get(f"/fill/{round_id}/").get_data(as_text=True)
    assert "<script>alert(1)" not in text and "&lt;script&gt;" in text


def test_formula_payload_stays_text_in_csv():
    from survey.exports.safe import csv_text

    text = csv_text(["value"], [[FORMULA], ["+1"], ["-1"], ["@SUM(A1)"], ["\tx"], [3]])
    lines = text.lstrip("\ufeff").split("\r\n")
    assert lines[1] == '"\'=HYPERLINK(""http://evil.example"",""click"")"'
    assert lines[2:6] == ["'+1", "'-1", "'@SUM(A1)", "'\tx"]
    assert lines[6] == "3"  # numbers are left alone


def test_one_megabyte_answer_gets_a_clear_error_and_loses_nothing(ken, db, round_id):
    ken.post(CHAPTER.format(round=round_id), tip5(compliance="partly", measures="Act 1"))
    big = "x" * (1024 * 1024)
    response = ken.post(CHAPTER.format(round=round_id), tip5(measures=big, steps="Plan"))
    assert response.status_code == 422
    assert "the limit is 100,000" in response.get_data(as_text=True)
    answers = load_answers(db, find_response(db, round_id, "KEN")["id"])["TIP-5"]
    assert answers["measures"].value == "Act 1"  # the earlier answer is intact
    assert answers["steps"].value == "Plan"  # and the rest of the post was saved


def test_nul_bytes_and_controls_are_removed_rtl_kept_isolated(ken, db, round_id):
    ken.post(
        CHAPTER.format(round=round_id),
        tip5(compliance="partly", measures="Act\x00 12\x07", steps=RTL),
    )
    answers = load_answers(db, find_response(db, round_id, "KEN")["id"])["TIP-5"]
    assert answers["measures"].value == "Act 12"
    assert answers["steps"].value == RTL
    page = ken.client.get(CHAPTER.format(round=round_id)).get_data(as_text=True)
    assert RTL in page
    printed = ken.client.get(f"/fill/{round_id}/print").get_data(as_text=True)
    assert (
        'class="answer-text">' + RTL in printed
    )  # shown in an element with its own bidi paragraph


def test_invalid_utf8_in_a_post_is_not_a_server_error(ken, round_id):
    token = ken.csrf(CHAPTER.format(round=round_id))
    body = (
        b"csrf_token="
        + token.encode()
        + b"&TIP-5.present=1&TIP-5.measures=%FF%FE%FDabc&TIP-5.compliance=yes"
    )
    response = ken.client.post(
        CHAPTER.format(round=round_id), data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code in (302, 400, 422)


def test_security_headers(client, ken, round_id):
    for response in (client.get("/login"), ken.client.get(CHAPTER.format(round=round_id))):
        csp = response.headers["Content-Security-Policy"]
        script_src = re.search(r"script-src ([^;]+)", csp).group(1)
        assert "'unsafe-inline'" not in script_src and "'self'" in script_src
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["X-Frame-Options"] == "DENY"
    page = ken.client.get(CHAPTER.format(round=round_id)).get_data(as_text=True)
    assert "<script>" not in page  # no inline script anywhere: scripts are external files


def test_session_cookie_flags(db_path, people, monkeypatch, tmp_path):
    from survey.web import create_app
    from tests.conftest import Actions

    monkeypatch.setenv("SURVEY_HTTPS", "1")
    app = create_app(
        {
            "DATABASE": str(db_path),
            "SECRET_KEY": "k",
            "RATELIMIT_ENABLED": False,
            "INSTANCE_PATH": str(tmp_path),
        }
    )
    helper = Actions(app.test_client())
    response = helper.login("ken@example.org")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_secret_key_is_generated_once_and_kept_private(db_path, tmp_path, monkeypatch):
    import stat

    from survey.web import create_app

    monkeypatch.delenv("SURVEY_SECRET_KEY", raising=False)
    first = create_app({"DATABASE": str(db_path), "INSTANCE_PATH": str(tmp_path / "inst")})
    second = create_app({"DATABASE": str(db_path), "INSTANCE_PATH": str(tmp_path / "inst")})
    key_file = tmp_path / "inst" / "secret_key"
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"] == key_file.read_text().strip()
    assert len(first.config["SECRET_KEY"]) >= 64
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_login_is_rate_limited(db_path, people, tmp_path):
    from survey.web import create_app
    from tests.conftest import Actions

    app = create_app(
        {
            "DATABASE": str(db_path),
            "SECRET_KEY": "k",
            "INSTANCE_PATH": str(tmp_path),
            "RATELIMIT_LOGIN": "3 per minute",
        }
    )
    helper = Actions(app.test_client())
    codes = [helper.login("ken@example.org", "wrong password!!").status_code for _ in range(4)]
    assert codes == [400, 400, 400, 429]


def test_no_inline_event_handlers_in_templates():
    from pathlib import Path

    import survey.web

    root = Path(survey.web.__file__).parent / "templates"
    for template in root.rglob("*.html"):
        if template.name == "standalone.html":
            continue  # a downloaded file, opened offline without the app's CSP
        text = template.read_text()
        assert not re.search(r"\son[a-z]+=", text), template
        assert "<script>" not in text, template
