"""End to end in Debian's Chromium (Playwright): a respondent answers, saves, reloads and submits."""

from __future__ import annotations

import shutil
import threading

import pytest
from werkzeug.serving import make_server

from survey.storage.responses import find_response, get_or_create_response, save_provision
from survey.storage.rounds import set_state_instruments

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not shutil.which("chromium"),
        reason="Debian's chromium is not installed (apt-get install -y chromium)",
    ),
]
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def server(app):
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


@pytest.fixture
def page(server, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(base_url=server)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page
        browser.close()
        assert errors == [], f"JavaScript errors: {errors}"


def login(page, email):
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", "correct horse battery")
    page.click("main button[type=submit]")


def test_respondent_answers_saves_reloads_and_submits(page, db, round_id, questionnaire, tmp_path):
    set_state_instruments(db, round_id, "KEN", ["TIP"])
    login(page, "ken@example.org")
    page.wait_for_url("**/fill/")
    page.click("text=General provisions")
    # Relevance without a round trip: 'steps' appears as soon as 'Partly' is chosen.
    assert page.locator('fieldset[id="f-TIP-5.steps"]').is_hidden()
    page.check('input[name="TIP-5.compliance"][value="partly"]')
    assert page.locator('fieldset[id="f-TIP-5.steps"]').is_visible()
    page.fill('textarea[name="TIP-5.measures"]', "Counter-Trafficking in Persons Act 2010, s. 3")
    page.fill(
        'textarea[name="TIP-5.steps"]', "Amend s. 3 to cover all forms of exploitation; 12 months."
    )
    page.check('input[name="TIP-5.ta_needed"][value="no"]')
    page.click("button:has-text('Save')")
    page.wait_for_selector("text=Saved:")
    page.screenshot(path=str(tmp_path / "chapter.png"), full_page=False)
    page.reload()
    assert page.locator('input[name="TIP-5.compliance"][value="partly"]').is_checked()
    assert (
        page.input_value('textarea[name="TIP-5.measures"]')
        == "Counter-Trafficking in Persons Act 2010, s. 3"
    )

    # The other TIP provisions are answered already (as if by colleagues), so submission can succeed.
    response = get_or_create_response(db, round_id, "KEN")
    for provision in questionnaire.instrument("TIP").provisions:
        if provision.id != "TIP-5":
            save_provision(
                db,
                response["id"],
                provision.id,
                {"compliance": "yes", "measures": "Act"},
                user_id=None,
            )
    page.goto(f"/fill/{round_id}/submit")
    page.click("button:has-text('Submit the self-assessment')")
    page.wait_for_selector("text=your self-assessment is submitted")
    assert find_response(db, round_id, "KEN")["status"] == "submitted"


def test_autosave_saves_without_pressing_save(page, db, round_id):
    login(page, "ken@example.org")
    page.wait_for_url("**/fill/")
    page.goto(f"/fill/{round_id}/TIP/general_provisions")
    page.check('input[name="TIP-5.compliance"][value="yes"]')
    page.fill('textarea[name="TIP-5.measures"]', "Autosaved law")
    page.wait_for_selector("text=All changes saved", timeout=15000)
    from survey.storage.responses import load_answers

    answers = load_answers(db, find_response(db, round_id, "KEN")["id"])["TIP-5"]
    assert answers["measures"].value == "Autosaved law"


def test_arabic_pages_render_right_to_left(page, round_id):
    login(page, "ken@example.org")
    page.wait_for_url("**/fill/")
    page.select_option("#lang-switch", "ar")
    page.click("form.language button")
    page.goto(f"/fill/{round_id}/TIP/general_provisions")
    assert page.get_attribute("html", "dir") == "rtl"
    assert page.get_attribute("html", "lang") == "ar"
    # The browser really lays the page out right to left: computed direction, and the sidebar
    # (first in the markup) sits to the right of the questions.
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    sidebar = page.locator("nav.sidebar").bounding_box()
    main = page.locator("main").bounding_box()
    assert sidebar["x"] > main["x"]
    assert (
        page.locator("legend").first.inner_text().strip()
        != "Has your State adopted the measures that this provision requires? *"
    )
