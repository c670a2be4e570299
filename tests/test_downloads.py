"""Every file the app offers downloads with a correct name through the production server, even
for a round id in Greek and Arabic (a raw non-Latin Content-Disposition is a 500 under
gunicorn; the Flask test client does not show it)."""

from __future__ import annotations

import http.cookiejar
import io
import json
import re
import time
import urllib.parse
import urllib.request

import pytest
from openpyxl import load_workbook

from survey.web.downloads import download_name
from tests.conftest import CSRF, PASSWORD
from tests.live import running_server

ROUND = "Γύρος-٢٠٢٦"
PREVIOUS = "Πρώτος"


@pytest.fixture
def served(tmp_path, questionnaire):
    from survey.responding import save_provision
    from survey.setup import prepare
    from survey.storage.responses import change_status, get_or_create_response
    from survey.storage.rounds import create_round
    from survey.storage.users import create_user

    path = tmp_path / "survey.db"
    db, _message = prepare(path)
    create_round(db, PREVIOUS, questionnaire, title="Πρώτος γύρος")
    create_round(db, ROUND, questionnaire, title="Γύρος ٢٠٢٦", previous_round=PREVIOUS)
    create_user(db, "analyst@example.org", "analyst", password=PASSWORD)
    create_user(db, "ken@example.org", "respondent", state_iso3="KEN", password=PASSWORD)
    for round_id in (PREVIOUS, ROUND):
        for iso3, code in (("KEN", "partly"), ("NGA", "not_yet")):
            response = get_or_create_response(db, round_id, iso3)
            save_provision(
                db,
                response["id"],
                "UNCAC-15",
                {"compliance": code, "ta_needed": "yes", "ta_types": ["legal_advice"]},
                user_id=None,
            )
            if iso3 == "NGA":
                change_status(db, response["id"], "submitted", user_id=None)
    db.conn.close()
    with running_server(path, tmp_path) as (port, _server, _log):
        yield port


def _session(port, email):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{port}"
    page = opener.open(f"{base}/login").read().decode()
    token = CSRF.search(page).group(1)
    data = urllib.parse.urlencode({"email": email, "password": PASSWORD, "csrf_token": token})
    opener.open(f"{base}/login", data.encode()).read()
    return opener, base


def _filename_star(header: str) -> str:
    match = re.search(r"filename\*=UTF-8''([^;]+)", header)
    assert match, header
    return urllib.parse.unquote(match.group(1))


def test_download_name_is_safe_and_keeps_the_script():
    assert download_name('a/b\\c"d\r\ne;f.csv') == "a-b-c-d-e-f.csv"
    assert download_name(f"{ROUND}.csv") == f"{ROUND}.csv"
    assert download_name("   ") == "download"
    assert download_name("../../etc/passwd") == "etc-passwd"


def test_every_download_has_a_correct_name_for_a_non_latin_round(served):
    analyst, base = _session(served, "analyst@example.org")
    quoted = urllib.parse.quote(ROUND)
    downloads = {
        f"/reports/{quoted}/?format=csv": "text/csv",
        f"/reports/{quoted}/priorities?format=csv&grouping=un_regional_group": "text/csv",
        f"/reports/{quoted}/priorities?format=html&grouping=un_regional_group": "text/html",
        f"/reports/{quoted}/heatmap?format=csv": "text/csv",
        f"/reports/{quoted}/compare?format=csv": "text/csv",
    }
    # The workbook is built by the export worker `survey serve` started: the link leads to the
    # build's progress page, whose JSON says when the file is ready.
    with analyst.open(f"{base}/exports/{quoted}/workbook.xlsx") as response:
        status_url = response.url
        assert "Excel workbook" in response.read().decode()
    deadline = time.monotonic() + 120
    while True:
        with analyst.open(status_url + ".json") as response:
            build = json.loads(response.read())
        if build["ready"]:
            break
        assert build["status"] in ("queued", "running"), build
        assert time.monotonic() < deadline, build
        time.sleep(0.3)
    downloads[build["download"]] = "application/vnd.openxmlformats"
    for url, kind in downloads.items():
        with analyst.open(base + url) as response:
            assert response.status == 200, url
            assert response.headers["Content-Type"].startswith(kind), url
            disposition = response.headers["Content-Disposition"]
            body = response.read()
        assert disposition.startswith("attachment;"), (url, disposition)
        name = _filename_star(disposition)
        assert ROUND in name, (url, name)
        # The plain fallback is ASCII, for clients that do not read filename*.
        fallback = re.search(r'filename="?([^";]+)', disposition).group(1)
        assert fallback.isascii(), (url, fallback)
        assert body, url
        if url.endswith("/file"):
            assert load_workbook(io.BytesIO(body)).sheetnames[0] == "About"
    respondent, base = _session(served, "ken@example.org")
    with respondent.open(f"{base}/fill/{quoted}/offline.xlsx") as response:
        assert response.status == 200
        name = _filename_star(response.headers["Content-Disposition"])
        assert name == f"KEN-{ROUND}-offline-questionnaire.xlsx"
        assert "Instructions" in load_workbook(io.BytesIO(response.read())).sheetnames
