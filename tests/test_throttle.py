"""Login throttling that holds: shared by workers, kept across restarts, no lockout of others."""

from __future__ import annotations

import http.client
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from urllib.parse import urlencode

import pytest

from survey.settings import SettingError
from survey.storage.ratelimit import SQLiteStorage, storage_uri
from survey.web import create_app
from tests.conftest import CSRF, PASSWORD, Actions

WRONG = "not the password!"
ATTACKER = "203.0.113.66"


@pytest.fixture
def throttled(db_path, people, tmp_path):
    """Make an app instance with throttling on (the suite turns it off), as a worker would be."""

    def make(**config):
        app = create_app(
            {
                "DATABASE": str(db_path),
                "SECRET_KEY": "test-secret",
                "INSTANCE_PATH": str(tmp_path),
                "RATELIMIT_ENABLED": True,
                **config,
            }
        )
        app.testing = True
        return app

    return make


def browser(app, address="127.0.0.1", forwarded_for=None, language=None):
    """An Actions helper whose requests come from `address`, optionally through a proxy header."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    if forwarded_for:
        client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded_for
    if language:
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    return Actions(client)


def refusal_text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


# -- shared by workers, kept across restarts -----------------------------------------------------


def test_two_workers_share_the_count_and_a_restart_keeps_it(throttled, db_path):
    worker_a = throttled(RATELIMIT_LOGIN="4 per minute")
    worker_b = throttled(RATELIMIT_LOGIN="4 per minute")
    on_a, on_b = browser(worker_a), browser(worker_b)
    codes = [
        (on_a if i % 2 == 0 else on_b).login("ken@example.org", WRONG).status_code for i in range(4)
    ]
    assert codes == [400, 400, 400, 400]
    # Four attempts in all, two through each worker: the fifth is refused by either.
    assert on_a.login("ken@example.org", WRONG).status_code == 429
    refused = on_b.login("fra@example.org", PASSWORD)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60

    restarted = throttled(RATELIMIT_LOGIN="4 per minute")
    after_restart = browser(restarted).login("fra@example.org", PASSWORD)
    assert after_restart.status_code == 429
    assert "Too many attempts from your network address. Try again in" in refusal_text(
        after_restart
    )

    conn = sqlite3.connect(db_path)
    keys = [row[0] for row in conn.execute("SELECT key FROM rate_limits")]
    conn.close()
    assert any("127.0.0.1" in key for key in keys)


def test_in_memory_counters_would_not_be_shared(throttled):
    """The reason for the database store: memory:// counts per process and per start."""
    worker_a = throttled(RATELIMIT_LOGIN="2 per minute", RATELIMIT_STORAGE_URI="memory://")
    worker_b = throttled(RATELIMIT_LOGIN="2 per minute", RATELIMIT_STORAGE_URI="memory://")
    on_a, on_b = browser(worker_a), browser(worker_b)
    codes = [h.login("ken@example.org", WRONG).status_code for h in (on_a, on_b, on_a, on_b)]
    assert codes == [400, 400, 400, 400]
    assert on_a.login("ken@example.org", WRONG).status_code == 429


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serve(db_path, port, env):
    return subprocess.Popen(
        [sys.executable, "-m", "survey.cli", "serve", "--db", str(db_path)]
        + ["--port", str(port), "--workers", "2", "--threads", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _http(port, method, path, body=None, cookie=""):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Cookie": cookie, "Connection": "close"}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    text = response.read().decode()
    cookies = response.msg.get_all("Set-Cookie") or []
    conn.close()
    return response, text, "; ".join(c.split(";", 1)[0] for c in cookies) or cookie


def _wait_until_up(port, server, deadline=60):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        assert server.poll() is None, "survey serve exited"
        try:
            _http(port, "GET", "/healthz")
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("survey serve did not start")


def _login_over_http(port, email, password):
    """A fresh browser (new connection, new session) posting the login form once."""
    _, page, cookie = _http(port, "GET", "/login")
    token = CSRF.search(page).group(1)
    form = urlencode({"email": email, "password": password, "csrf_token": token})
    response, _, _ = _http(port, "POST", "/login", form, cookie)
    return response


def _stop(server):
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def test_gunicorn_with_two_workers_counts_once_and_remembers_after_restart(db_path, people):
    env = {
        **os.environ,
        "SURVEY_LOGIN_LIMIT": "6 per 10 minutes",
        "SURVEY_SECRET_KEY": "gunicorn-test",
    }
    env.pop("SURVEY_LOGIN_THROTTLE", None)
    port = _free_port()
    server = _serve(db_path, port, env)
    try:
        _wait_until_up(port, server)
        codes = [_login_over_http(port, "ken@example.org", WRONG).status for _ in range(6)]
        assert codes == [400] * 6
        assert _login_over_http(port, "fra@example.org", PASSWORD).status == 429
    finally:
        _stop(server)
    server = _serve(db_path, port, env)
    try:
        _wait_until_up(port, server)
        refused = _login_over_http(port, "fra@example.org", PASSWORD)
        assert refused.status == 429
        assert 1 <= int(refused.getheader("Retry-After")) <= 600
    finally:
        _stop(server)


def test_posts_from_another_site_do_not_spend_the_budget_of_an_address(throttled):
    """A page elsewhere can make an office's browsers post here; without our form's token
    those posts are refused and not counted, so they cannot lock the office out."""
    app = throttled(RATELIMIT_LOGIN="3 per minute")
    office = browser(app)
    for _ in range(10):
        forged = office.client.post("/login", data={"email": "ken@example.org", "password": WRONG})
        assert forged.status_code == 400
    assert office.login("ken@example.org").status_code == 302


# -- client addresses behind a proxy ------------------------------------------------------------


def test_behind_a_trusted_proxy_one_clients_bad_logins_do_not_stop_another(throttled):
    app = throttled(TRUSTED_PROXIES=1)
    attacker = browser(app, forwarded_for=ATTACKER)
    codes = [
        attacker.login(email, WRONG).status_code
        for email in ["ken@example.org", "fra@example.org", "nobody@example.org"] * 4
    ]
    assert codes[:10] == [400] * 10 and codes[10:] == [429, 429]

    colleague = browser(app, forwarded_for="198.51.100.7")
    assert colleague.login("fra@example.org").status_code == 302
    owner = browser(app, forwarded_for="198.51.100.8")
    assert owner.login("ken@example.org").status_code == 302


def test_only_the_proxies_own_entry_is_believed(throttled):
    """A client behind one trusted proxy cannot choose its address by sending its own header."""
    app = throttled(TRUSTED_PROXIES=1, RATELIMIT_LOGIN="3 per minute")
    codes = []
    for i in range(4):
        # nginx appends the real peer to whatever the client sent.
        forged = browser(app, forwarded_for=f"10.9.9.{i}, {ATTACKER}")
        codes.append(forged.login("ken@example.org", WRONG).status_code)
    assert codes == [400, 400, 400, 429]


def test_with_no_trusted_proxy_a_forged_forwarded_for_is_ignored(throttled):
    app = throttled(TRUSTED_PROXIES=0, RATELIMIT_LOGIN="3 per minute")
    codes = [
        browser(app, forwarded_for=f"192.0.2.{i}").login("ken@example.org", WRONG).status_code
        for i in range(4)
    ]
    assert codes == [400, 400, 400, 429]


# -- accounts under attack ------------------------------------------------------------------------


def test_the_owner_logs_in_while_an_attacker_hammers_the_account(throttled):
    app = throttled(
        TRUSTED_PROXIES=1,
        RATELIMIT_LOGIN="100 per minute",
        RATELIMIT_LOGIN_ACCOUNT="5 per 15 minutes",
    )
    attacker = browser(app, forwarded_for=ATTACKER)
    codes = [attacker.login("ken@example.org", WRONG).status_code for _ in range(6)]
    assert codes == [400] * 5 + [429]
    # Even the right password is not tried for the address that failed: guessing stops there.
    found = attacker.login("ken@example.org", PASSWORD)
    assert found.status_code == 429
    assert 800 <= int(found.headers["Retry-After"]) <= 900
    assert "Too many failed logins to this account from your network address" in refusal_text(found)
    # The attacker's address may still use other accounts (its own, say) within its address limit.
    assert attacker.login("fra@example.org").status_code == 302

    owner = browser(app, forwarded_for="198.51.100.8")
    assert owner.login("ken@example.org").status_code == 302

    # A second attacking address gets one guess, then waits like the first.
    second = browser(app, forwarded_for="203.0.113.77")
    assert second.login("ken@example.org", WRONG).status_code == 400
    assert second.login("ken@example.org", WRONG).status_code == 429


def test_an_unknown_email_is_throttled_like_a_known_one(throttled):
    """The throttle does not tell which emails have accounts."""
    app = throttled(RATELIMIT_LOGIN="100 per minute", RATELIMIT_LOGIN_ACCOUNT="3 per 15 minutes")
    helper = browser(app)
    known = [helper.login("ken@example.org", WRONG).status_code for _ in range(4)]
    unknown = [helper.login("nobody@example.org", WRONG).status_code for _ in range(4)]
    assert known == unknown == [400, 400, 400, 429]
    assert helper.login("KEN@example.org ", PASSWORD).status_code == 429  # same account


def test_the_refusal_is_translated_and_says_when(throttled):
    app = throttled(RATELIMIT_LOGIN="1 per minute")
    helper = browser(app, language="fr")
    assert helper.login("ken@example.org", WRONG).status_code == 400
    refused = helper.login("ken@example.org", WRONG)
    assert refused.status_code == 429
    text = refusal_text(refused)
    assert "Trop de tentatives depuis votre adresse réseau. Réessayez dans" in text
    assert re.search(r"Réessayez dans \d+ (secondes|minute)", text), text


def test_invitation_posts_are_throttled_per_address(throttled, db):
    from survey.storage.users import create_invitation, get_user_by_email

    app = throttled(RATELIMIT_LOGIN="2 per minute")
    token = create_invitation(db, get_user_by_email(db, "ken@example.org")["id"])
    helper = browser(app)
    for _ in range(2):
        assert (
            helper.post(f"/invite/{token}", {"password": "short", "confirm": "short"}).status_code
            == 200
        )
    refused = helper.post(f"/invite/{token}", {"password": "short", "confirm": "short"})
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert "Too many attempts from your network address" in refusal_text(refused)


# -- settings and storage -----------------------------------------------------------------------


def test_an_unusable_storage_or_limit_stops_the_start_with_a_named_setting(throttled):
    with pytest.raises(SettingError, match="SURVEY_LOGIN_THROTTLE_STORAGE"):
        throttled(RATELIMIT_STORAGE_URI="nosuchstore://somewhere")
    with pytest.raises(SettingError, match="SURVEY_LOGIN_LIMIT"):
        throttled(RATELIMIT_LOGIN="ten a minute")


def test_limit_settings_are_checked_when_read(monkeypatch):
    from survey.settings import setting

    monkeypatch.setenv("SURVEY_LOGIN_ACCOUNT_LIMIT", "lots")
    with pytest.raises(SettingError, match="SURVEY_LOGIN_ACCOUNT_LIMIT='lots'"):
        setting("RATELIMIT_LOGIN_ACCOUNT")
    monkeypatch.setenv("SURVEY_TRUSTED_PROXIES", "-1")
    with pytest.raises(SettingError, match="SURVEY_TRUSTED_PROXIES"):
        setting("TRUSTED_PROXIES")


def test_sqlite_counters_are_shared_expire_and_clear(db_path, monkeypatch):
    first = SQLiteStorage(storage_uri(db_path))
    second = SQLiteStorage(storage_uri(db_path))
    assert first.incr("k", 60) == 1
    assert second.incr("k", 60) == 2
    assert first.get("k") == 2
    assert first.get_expiry("k") == pytest.approx(time.time() + 60, abs=5)

    later = time.time() + 61
    monkeypatch.setattr("survey.storage.ratelimit.time.time", lambda: later)
    assert second.get("k") == 0  # the window is over
    assert second.incr("k", 60) == 1  # a new one starts, and the old row is gone
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT count(*) FROM rate_limits").fetchone()[0] == 1
    conn.close()
    second.clear("k")
    assert first.get("k") == 0 and first.check()


def test_sqlite_storage_uri_must_name_a_file():
    with pytest.raises(ValueError, match="sqlite:////absolute/path.db"):
        SQLiteStorage("sqlite://")
