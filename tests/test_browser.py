"""End to end in Debian's Chromium (Playwright): a respondent answers, saves, reloads and submits;
and the chapter page keeps its promises about saving (fill.js): changes kept in this browser, no
needless "Leave site?", a renewed session, and two colleagues' versions shown side by side."""

from __future__ import annotations

import shutil
import threading

import pytest
from werkzeug.serving import make_server

from survey.responding import save_provision
from survey.storage.responses import find_response, get_or_create_response, load_answers
from survey.storage.rounds import set_state_instruments
from survey.storage.sessions import end_user_sessions

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
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def js_errors():
    errors = []
    yield errors
    assert errors == [], f"JavaScript errors: {errors}"


@pytest.fixture
def new_page(browser, server, js_errors):
    """A page in `context` (a fresh browser context, i.e. another person, when none is given)."""

    def make(context=None):
        context = context or browser.new_context(base_url=server)
        page = context.new_page()
        page.on("pageerror", lambda exc: js_errors.append(str(exc)))
        return page

    return make


@pytest.fixture
def page(new_page):
    return new_page()


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
    page.wait_for_selector("text=All changes saved")
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
                {
                    "compliance": {"mandatory": "fully", "consider": "adopted", "optional": "used"}[
                        provision.obligation
                    ],
                    "measures": "Act",
                    "ta_needed": "no",  # asked whatever the answer (but 'na') and required
                },
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
    page.check('input[name="TIP-5.compliance"][value="fully"]')
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


# -- saving without losing anything: the promises the chapter page makes ----------------------------

CHAPTER = "TIP/general_provisions"
MEASURES = 'textarea[name="TIP-5.measures"]'
STATUS = "#autosave-status"
# Text a user may paste: markup, a formula, a flag emoji, Arabic, a line break.
HOSTILE = "Loi n° 2010-3 « art. 3 » </textarea><b>x</b> =SUM(A1) 🇰🇪 قانون\nline 2"


def answered_compliance(db, round_id):
    """TIP-5 as a colleague left it: compliance answered, so the 'measures' question is shown."""
    response = get_or_create_response(db, round_id, "KEN")
    save_provision(db, response["id"], "TIP-5", {"compliance": "fully"}, user_id=None)


def stored(db, round_id, provision="TIP-5", question="measures"):
    response = find_response(db, round_id, "KEN")
    answers = load_answers(db, response["id"], [provision]) if response else {}
    answer = answers.get(provision, {}).get(question)
    return answer.value if answer else None


def open_chapter(page, email, round_id, chapter=CHAPTER):
    login(page, email)
    page.wait_for_url("**/fill/")
    page.goto(f"/fill/{round_id}/{chapter}")


def _refuse_posts(route):
    if route.request.method == "POST":
        route.abort("internetdisconnected")
    else:
        route.continue_()


def lose_connection(context):
    """Every post fails as on a dropped link. (Chromium's offline emulation let an autosave on an
    already open connection reach the server while the page saw it fail, on a loaded machine.)"""
    context.route("**/*", _refuse_posts)


def restore_connection(context):
    context.unroute("**/*", _refuse_posts)


def wait_saved(page):
    page.wait_for_selector(f"{STATUS}:has-text('All changes saved')", timeout=15000)


def test_text_typed_offline_is_offered_back_after_reopening_and_saved(page, new_page, db, round_id):
    open_chapter(page, "ken@example.org", round_id)
    lose_connection(page.context)
    page.check('input[name="TIP-5.compliance"][value="partly"]')
    page.fill('textarea[name="TIP-5.steps"]', "Amend s. 3")
    page.fill(MEASURES, HOSTILE)
    page.wait_for_selector(f"{STATUS}:has-text('kept in this browser')", timeout=15000)
    page.close()

    restore_connection(page.context)
    again = new_page(page.context)
    again.goto(f"/fill/{round_id}/{CHAPTER}")
    assert again.input_value(MEASURES) == ""
    assert again.locator('fieldset[id="f-TIP-5.steps"]').is_hidden()
    again.click(f"{STATUS} button:has-text('Put them back and save')")
    wait_saved(again)
    assert again.input_value(MEASURES) == HOSTILE
    assert again.locator('fieldset[id="f-TIP-5.steps"]').is_visible()  # relevance re-run
    assert stored(db, round_id) == HOSTILE
    assert stored(db, round_id, question="compliance") == "partly"
    assert stored(db, round_id, question="steps") == "Amend s. 3"
    # Confirmed by the server: the browser's copy is gone, and a reload offers nothing.
    assert again.evaluate("localStorage.length") == 0
    again.reload()
    assert again.locator(f"{STATUS} button").count() == 0


def test_discarding_the_kept_copy_forgets_it(page, new_page, db, round_id):
    open_chapter(page, "ken@example.org", round_id)
    lose_connection(page.context)
    page.check('input[name="TIP-5.compliance"][value="fully"]')
    page.fill(MEASURES, "Draft I do not want")
    # A page closed by the test driver within milliseconds of the write sometimes lost it (about
    # one run in three); a person closing the tab goes through beforeunload, which keeps it again.
    page.wait_for_selector(f"{STATUS}:has-text('kept in this browser')", timeout=15000)
    page.close()
    restore_connection(page.context)
    again = new_page(page.context)
    again.goto(f"/fill/{round_id}/{CHAPTER}")
    again.click(f"{STATUS} button:has-text('Discard them')")
    assert again.evaluate("localStorage.length") == 0
    again.reload()
    assert again.locator(f"{STATUS} button").count() == 0
    assert stored(db, round_id) is None


def test_leaving_with_unsaved_changes_asks_first(page, round_id):
    open_chapter(page, "ken@example.org", round_id)
    page.click('input[name="TIP-5.compliance"][value="fully"]')
    page.fill(MEASURES, "Not saved yet")
    with page.expect_event("dialog") as dialog:
        page.close(run_before_unload=True)
    assert dialog.value.type == "beforeunload"
    dialog.value.dismiss()


def test_save_right_after_typing_raises_no_dialog_and_keeps_the_place(page, db, round_id):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.type), d.dismiss()))
    open_chapter(page, "ken@example.org", round_id, "UNTOC/justice")
    field = 'textarea[name="UNTOC-26-5.measures"]'
    # UNTOC-26-5 is optional: used / not_used. The last provision, far down.
    page.check('input[name="UNTOC-26-5.compliance"][value="used"]')
    page.fill(field, "Witness Protection Act, s. 12")
    y = page.evaluate("scrollY")
    assert y > 2000
    page.click("#save-button")  # well within the 3 s autosave delay
    wait_saved(page)
    assert abs(page.evaluate("scrollY") - y) < 40
    assert stored(db, round_id, "UNTOC-26-5") == "Witness Protection Act, s. 12"

    # A chapter link right after typing: saved first, then the next page, no question asked.
    page.fill(field, "Witness Protection Act, s. 12 and 13")
    page.click("nav.chapter-nav a[rel=next]")
    page.wait_for_url("**/UNTOC/international_cooperation")
    assert stored(db, round_id, "UNTOC-26-5") == "Witness Protection Act, s. 12 and 13"
    with page.expect_event("close"):
        page.close(run_before_unload=True)
    assert dialogs == []


def test_a_page_left_open_across_a_new_login_saves_without_losing_text(
    page, new_page, db, round_id
):
    answered_compliance(db, round_id)
    open_chapter(page, "ken@example.org", round_id)
    page.fill(MEASURES, "First part")
    wait_saved(page)
    other = new_page(page.context)  # another tab: logging in again renews session and CSRF token
    login(other, "ken@example.org")
    other.wait_for_url("**/fill/")
    page.fill(MEASURES, "First part; second part")
    with page.expect_response(lambda r: r.url.endswith("/fill/csrf")) as fresh:
        page.click("#save-button")
    assert fresh.value.ok
    wait_saved(page)
    assert page.input_value(MEASURES) == "First part; second part"
    assert stored(db, round_id) == "First part; second part"


def test_two_officials_changing_one_answer_see_both_versions(new_page, db, round_id):
    answered_compliance(db, round_id)
    a, b = new_page(), new_page()
    open_chapter(b, "ken2@example.org", round_id)
    open_chapter(a, "ken@example.org", round_id)
    token_b_started_from = b.input_value('input[name="TIP-5.measures.v"]')
    a.fill(MEASURES, "A: Act 2010")
    wait_saved(a)

    b.fill(MEASURES, "B: Act 2010 as amended in 2023")
    b.wait_for_selector(f"{STATUS}:has-text('Someone else changed')", timeout=15000)
    assert stored(db, round_id) == "A: Act 2010"
    # The autosave adopted no token for the conflicting answer.
    assert b.input_value('input[name="TIP-5.measures.v"]') == token_b_started_from

    b.click("#save-button")
    box = b.locator('fieldset[id="f-TIP-5.measures"] .conflict')
    box.wait_for()
    assert "A: Act 2010" in box.inner_text()
    assert "B: Act 2010 as amended in 2023" in box.inner_text()
    assert b.input_value(MEASURES) == "B: Act 2010 as amended in 2023"
    assert b.evaluate("document.activeElement.name") == "keep_theirs"  # focus on the choice
    assert stored(db, round_id) == "A: Act 2010"

    b.click("#save-button")  # nothing ticked: B has seen both and keeps theirs
    wait_saved(b)
    assert stored(db, round_id) == "B: Act 2010 as amended in 2023"
    box.wait_for(state="detached")  # the section shows the answer as stored now


def test_sidebar_counts_follow_an_autosave(page, round_id):
    open_chapter(page, "ken@example.org", round_id)
    counter = page.locator(f'nav.sidebar li[data-chapter="{CHAPTER}"] span.progress')
    before = counter.inner_text()
    page.check('input[name="TIP-5.compliance"][value="fully"]')
    page.fill(MEASURES, "Act")
    wait_saved(page)
    after = counter.inner_text()
    assert after != before
    percent = page.get_attribute("#overall-progress", "data-percent")
    page.reload()
    assert counter.inner_text() == after  # what the page showed is what the server counts
    assert page.get_attribute("#overall-progress", "data-percent") == percent


def test_after_the_session_expired_typed_text_is_saved_once_logged_in_again(
    page, new_page, db, people, round_id
):
    answered_compliance(db, round_id)
    open_chapter(page, "ken@example.org", round_id)
    end_user_sessions(db, people["ken"]["id"])  # as if the session had run out
    page.fill(MEASURES, "Typed after the session ended")
    page.wait_for_selector(f"{STATUS}:has-text('Your session has expired')", timeout=15000)
    assert page.input_value(MEASURES) == "Typed after the session ended"
    other = new_page(page.context)  # what the message asks: log in again in another tab
    login(other, "ken@example.org")
    other.wait_for_url("**/fill/")
    page.click("#save-button")  # ...then press Save here
    wait_saved(page)
    assert stored(db, round_id) == "Typed after the session ended"


def test_copy_saves_typed_text_first_and_copies_nothing_when_that_fails(page, db, round_id):
    response = get_or_create_response(db, round_id, "KEN")
    save_provision(
        db,
        response["id"],
        "UNTOC-5",
        {"compliance": "partly", "measures": "Penal Code s. 5"},
        user_id=None,
    )
    answered_compliance(db, round_id)
    open_chapter(page, "ken@example.org", round_id)
    copy = page.locator("section#TIP-5 .copy-button")

    lose_connection(page.context)
    page.fill(MEASURES, "Typed just before copying")
    copy.click()
    page.wait_for_selector(f"{STATUS}:has-text('Not saved yet')", timeout=15000)
    assert page.url.endswith(CHAPTER)  # not copied over unsaved text
    assert stored(db, round_id) is None

    restore_connection(page.context)
    copy.click()
    page.wait_for_selector("text=Replace my answers with the copy")  # TIP-5 has answers now
    assert stored(db, round_id) == "Typed just before copying"
    page.click("text=Replace my answers with the copy")
    page.wait_for_selector("text=Copied the answers given for UNTOC-5")
    assert stored(db, round_id) == "Penal Code s. 5"

    # Undo, right after typing elsewhere in the provision: that text is saved first, then undone
    # is only what the copy replaced.
    page.fill('textarea[name="TIP-5.examples"]', "R v. Otieno (2019)")
    page.click("button:has-text('Undo the copy')")
    page.wait_for_selector("text=Undone")
    assert stored(db, round_id) == "Typed just before copying"
    assert stored(db, round_id, question="examples") == "R v. Otieno (2019)"


def test_keeping_their_version_shows_it_and_later_saves_do_not_replace_it(new_page, db, round_id):
    answered_compliance(db, round_id)
    a, b = new_page(), new_page()
    open_chapter(b, "ken2@example.org", round_id)
    open_chapter(a, "ken@example.org", round_id)
    a.fill(MEASURES, "A: Act 2010")
    wait_saved(a)
    b.fill(MEASURES, "B: my draft")
    b.click("#save-button")
    b.check('fieldset[id="f-TIP-5.measures"] input[name="keep_theirs"]')
    b.click("#save-button")
    wait_saved(b)
    assert stored(db, round_id) == "A: Act 2010"
    b.locator('fieldset[id="f-TIP-5.measures"] .conflict').wait_for(state="detached")
    assert b.input_value(MEASURES) == "A: Act 2010"  # the page shows what was kept
    # Another answer of the same provision autosaves without bringing B's draft back.
    b.fill('textarea[name="TIP-5.examples"]', "R v. Otieno (2019)")
    wait_saved(b)
    assert stored(db, round_id) == "A: Act 2010"
    assert stored(db, round_id, question="examples") == "R v. Otieno (2019)"


def test_an_answer_the_server_refuses_stays_on_the_page_with_its_message(page, db, round_id):
    answered_compliance(db, round_id)
    open_chapter(page, "ken@example.org", round_id)
    too_long = "🇰🇪" * 50_001  # 100,002 characters: over the limit
    page.fill(MEASURES, too_long)
    page.click("#save-button")
    page.wait_for_selector('fieldset[id="f-TIP-5.measures"] .field-error')
    assert page.evaluate("document.activeElement.name") == "TIP-5.measures"
    assert page.input_value(MEASURES) == too_long
    assert stored(db, round_id) is None
    assert page.evaluate("localStorage.length") == 1  # still kept in this browser
    page.fill(MEASURES, "A shorter answer")
    page.click("#save-button")
    wait_saved(page)
    assert stored(db, round_id) == "A shorter answer"
    page.locator('fieldset[id="f-TIP-5.measures"] .field-error').wait_for(state="detached")
    assert page.evaluate("localStorage.length") == 0


# -- light on slow links: static files fetched once, then taken from the browser's cache ----------


def test_repeat_page_views_fetch_no_static_files(page, app, round_id):
    """Counted on the server: every request that reaches the app, whatever the browser says."""
    reached = []
    serve = app.wsgi_app

    def counting(environ, start_response):
        reached.append(environ["PATH_INFO"])
        return serve(environ, start_response)

    app.wsgi_app = counting
    encodings = {}
    page.on(
        "response",
        lambda r: encodings.setdefault(r.url.split("?")[0].rsplit("/", 1)[-1], r.headers),
    )
    chapter = f"/fill/{round_id}/{CHAPTER}"
    open_chapter(page, "ken@example.org", round_id)
    page.wait_for_load_state("networkidle")
    first = [path for path in reached if path.startswith("/static/")]
    # The first views (login page, overview, chapter) do fetch them, compressed.
    assert {"/static/style.css", "/static/print.css", "/static/fill.js"} <= set(first)
    assert encodings["fill.js"].get("content-encoding") == "br"
    assert "immutable" in encodings["fill.js"]["cache-control"]

    reached.clear()
    page.goto("/fill/")
    page.goto(chapter)
    page.goto(f"/fill/{round_id}/TIP/victim_protection")
    page.go_back()
    page.reload()
    page.wait_for_load_state("networkidle")
    assert page.locator(MEASURES).count() == 1  # the chapter page, styled and working
    assert reached.count(chapter) >= 2  # the pages themselves did reach the server
    assert [path for path in reached if path.startswith("/static/")] == []


@pytest.fixture
def worker_server(db_path, people, tmp_path):
    """A live server whose workbook builds wait in the queue until the test runs them."""
    from tests.conftest import make_app

    app = make_app(db_path, tmp_path, EXPORT_JOBS="worker")
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


def test_the_workbook_page_follows_the_build_and_downloads_the_file(
    browser, worker_server, db, round_id, js_errors, tmp_path
):
    from survey.exports.jobs import job_queue

    app, base = worker_server
    response = get_or_create_response(db, round_id, "KEN")
    save_provision(db, response["id"], "UNCAC-15", {"compliance": "partly"}, user_id=None)
    context = browser.new_context(base_url=base, accept_downloads=True)
    page = context.new_page()
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    login(page, "analyst@example.org")
    page.wait_for_url("**/responses/**")
    page.goto(f"/exports/{round_id}/workbook.xlsx")
    page.wait_for_selector("text=Waiting for the export worker to start")
    assert page.locator("progress").is_visible()
    page.screenshot(path=str(tmp_path / "build-waiting.png"))
    queue = job_queue(app.config["JOBS_FILE"])
    with page.expect_download(timeout=20_000) as caught:
        task = queue.huey.dequeue()  # the worker picks the build up; the page polls
        queue.huey.execute(task)
    download = caught.value
    assert download.suggested_filename == f"survey-{round_id}.xlsx"
    path = tmp_path / "got.xlsx"
    download.save_as(path)
    assert path.read_bytes()[:2] == b"PK"
    page.wait_for_selector("text=The workbook is ready.")
    page.screenshot(path=str(tmp_path / "build-ready.png"))


# -- charts: every category told apart, every label whole -----------------------------------

CHART_STATES = ("KEN", "NGA", "EGY", "GHA", "ZAF", "SEN", "FRA", "DEU", "BRA", "IND")
CHART_PROVISIONS = ("UNCAC-15", "UNTOC-5", "TIP-5", "UNTOC-23", "UNCAC-20", "SOM-6", "FIR-5")

# Every label of a chart inside the chart's own box, no two tick labels on top of each other,
# and none shortened with an ellipsis.
CHART_CHECK = """
() => [...document.querySelectorAll('.js-plotly-plot')].map((plot, index) => {
  const box = plot.getBoundingClientRect();
  const problems = [];
  const ticks = [...plot.querySelectorAll('g.ytick text, g.xtick text')]
    .filter(t => t.textContent.trim());
  for (const t of ticks) {
    const r = t.getBoundingClientRect();
    if (r.left < box.left - 1 || r.right > box.right + 1)
      problems.push(`cut: "${t.textContent}" [${r.left}-${r.right}] outside [${box.left}-${box.right}]`);
    if (/…|\\.\\.\\.$/.test(t.textContent)) problems.push(`shortened: "${t.textContent}"`);
  }
  const rows = [...plot.querySelectorAll('g.ytick text')].filter(t => t.textContent.trim())
    .map(t => [t.textContent, t.getBoundingClientRect()]);
  for (let i = 0; i < rows.length; i++)
    for (let j = i + 1; j < rows.length; j++) {
      const [a, ra] = rows[i], [b, rb] = rows[j];
      const overlap = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
      const across = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
      if (overlap > 2 && across > 2) problems.push(`overlap: "${a}" / "${b}"`);
    }
  // Legend entries clear of the axis titles and tick labels (a legend under the plot can
  // run into the x-axis title).
  const legend = [...plot.querySelectorAll('g.legend text')].filter(t => t.textContent.trim());
  const others = [...plot.querySelectorAll('text.xtitle, text.ytitle, g.xtick text')]
    .filter(t => t.textContent.trim());
  for (const l of legend)
    for (const o of others) {
      const rl = l.getBoundingClientRect(), ro = o.getBoundingClientRect();
      const overlap = Math.min(rl.bottom, ro.bottom) - Math.max(rl.top, ro.top);
      const across = Math.min(rl.right, ro.right) - Math.max(rl.left, ro.left);
      if (overlap > 2 && across > 2)
        problems.push(`legend over axis: "${l.textContent}" / "${o.textContent}"`);
    }
  return {index, ticks: ticks.length, problems};
})
"""


@pytest.fixture
def charted_round(db, round_id, questionnaire):
    """Ten States with gaps, every TA type and every challenge (the longest labels), on
    provisions of every instrument, and a later round so the comparison has a chart."""
    from survey.storage.responses import change_status
    from survey.storage.rounds import create_round

    ta_types = list(questionnaire.choice_list("ta_types").codes)
    challenges = list(questionnaire.choice_list("challenges").codes)

    def fill(round_, skew):
        for n, iso3 in enumerate(CHART_STATES):
            response = get_or_create_response(db, round_, iso3)
            for k, pid in enumerate(CHART_PROVISIONS):
                gap = (n + k + skew) % 3 != 0
                values = {"compliance": "not_yet" if gap else "fully"}
                if questionnaire.provisions[pid].obligation != "mandatory":
                    values = {"compliance": "not_yet_considered" if gap else "fully"}
                if gap:
                    values |= {
                        "ta_needed": "yes",
                        "ta_types": ta_types[: 1 + (n + k) % len(ta_types)],
                        "challenges": challenges[: 1 + (n * k) % len(challenges)],
                    }
                save_provision(db, response["id"], pid, values, user_id=None)
            change_status(db, response["id"], "submitted", user_id=None)

    fill(round_id, 0)
    create_round(db, "later", questionnaire, previous_round=round_id)
    fill("later", 1)
    return round_id, "later"


@pytest.mark.parametrize("lang", ["en", "fr", "ar"])
def test_report_charts_show_every_label_whole(browser, server, db, people, charted_round, lang):
    db.execute("UPDATE users SET language = ? WHERE email = 'analyst@example.org'", [lang])
    context = browser.new_context(base_url=server, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, "analyst@example.org")
    before, now = charted_round
    base = f"/reports/{now}"
    pages = [
        f"{base}/?grouping=un_regional_group",
        f"{base}/priorities?grouping=un_regional_group&region=AFRICAN_GROUP",
        f"{base}/heatmap?grouping=un_regional_group",
        f"{base}/compare?grouping=un_regional_group&previous={before}",
    ]
    checked = 0
    for url in pages:
        page.goto(url)
        page.wait_for_load_state("networkidle")
        plots = page.evaluate(CHART_CHECK)
        for plot in plots:
            assert plot["ticks"] > 0, (url, plot)
            assert plot["problems"] == [], (lang, url, plot["problems"])
        checked += len(plots)
    assert checked >= 5  # status, priorities, TA types, challenges, comparison at least
    assert errors == []
    context.close()
