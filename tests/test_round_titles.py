"""Round titles in the six languages: storage and migration 0009, the pages (respondent, admin),
the command line, the offline file, and the exports that stay in English."""

from __future__ import annotations

import io
import re
from html import escape
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from survey.cli import main
from survey.exports.excel import write_workbook
from survey.exports.offline import export_offline
from survey.exports.tabular import write_csv
from survey.i18n import LANGUAGES, gettext_for
from survey.responding import save_provision
from survey.storage import connect
from survey.storage.migrations import ROUND_TITLES_MIGRATION, migrate
from survey.storage.responses import get_or_create_response
from survey.storage.rounds import (
    TITLE_COLUMNS,
    RoundError,
    RoundTitleError,
    create_round,
    current_round,
    get_round,
    round_title,
    round_titles,
    set_round_titles,
)
from survey.storage.states import load_states

ROUND = "2027"
# A round titled by an administrator in four languages; Spanish and Russian are missing.
TITLES = {
    "en": "Special session 2027",
    "fr": "Session extraordinaire 2027",
    "ar": "الدورة الاستثنائية لعام 2027",
    "zh": "2027年特别会议",
}
# The demo's and a fresh database's titles, as a reader of each language should see them.
SELF_ASSESSMENT_2026 = {
    "en": "Self-assessment 2026",
    "fr": "Auto-évaluation 2026",
    "es": "Autoevaluación 2026",
    "ru": "Самооценка 2026 года",
    "zh": "2026年自评",
    "ar": "التقييم الذاتي لعام 2026",
}
FALLBACK = '<span lang="en" dir="ltr" class="fallback" title="{note}">{text}</span>'
H1 = re.compile(r"<h1>(.*?)</h1>", re.S)
TITLE_TAG = re.compile(r"<title>(.*?)</title>", re.S)


@pytest.fixture
def titled_round(db, questionnaire):
    create_round(db, ROUND, questionnaire, titles=TITLES)
    return ROUND


def _in(lang, helper, url):
    helper.post("/language", {"lang": lang, "next": url}, form_url=url)
    return helper.client.get(url).get_data(as_text=True)


def _fallback(lang, text):
    return FALLBACK.format(
        note=escape(gettext_for(lang)("Not yet translated: shown in English")), text=escape(text)
    )


# -- storage -----------------------------------------------------------------------------------


def test_a_round_keeps_its_title_per_language_and_english_is_the_title_column(db, titled_round):
    round_ = get_round(db, titled_round)
    assert round_["title"] == TITLES["en"]  # what older code reads
    assert round_titles(round_) == TITLES
    assert round_title(round_, "zh") == TITLES["zh"]
    assert round_title(round_, "es") == TITLES["en"]
    assert round_title(round_, "xx") == TITLES["en"]


def test_titles_the_application_writes_are_in_every_language(db, questionnaire):
    # The fresh database's round (prepare -> ensure_default_round), as the demo's rounds.
    assert round_titles(current_round(db)) == SELF_ASSESSMENT_2026
    untitled = create_round(db, "R9", questionnaire)
    assert round_titles(untitled)["en"] == "Self-assessment round R9"
    assert round_titles(untitled)["fr"] == "Cycle d'auto-évaluation R9"
    assert set(round_titles(untitled)) == set(LANGUAGES)
    # A title given for one language only keeps the generated ones for the others.
    french_only = create_round(db, "R10", questionnaire, titles={"fr": "Cycle spécial"})
    assert round_titles(french_only)["fr"] == "Cycle spécial"
    assert round_titles(french_only)["en"] == "Self-assessment round R10"


def test_setting_some_titles_keeps_the_others(db, titled_round):
    set_round_titles(db, titled_round, {"es": "Sesión extraordinaria 2027", "fr": ""})
    titles = round_titles(get_round(db, titled_round))
    assert titles == {
        "en": TITLES["en"],
        "ar": TITLES["ar"],
        "zh": TITLES["zh"],
        "es": "Sesión extraordinaria 2027",
    }
    with pytest.raises(RoundTitleError) as refused:
        set_round_titles(db, titled_round, {"en": "  "})
    assert refused.value.lang == "en"
    assert "English title cannot be empty" in str(refused.value)
    assert get_round(db, titled_round)["title"] == TITLES["en"]
    with pytest.raises(RoundError, match="does not exist"):
        set_round_titles(db, "nope", {"fr": "x"})


HOSTILE = {
    "right-to-left override": ("Session \u202e7202 lanoitpecxe", "U+202E", "character 9 "),
    "right-to-left isolate": ("\u2067Session", "U+2067", "character 1 "),
    "NUL": ("Session\x00 2027", "U+0000", "character 8 "),
    "line break": ("Session\n2027", "U+000A", "character 8 "),
    "escape": ("\x1b[31mSession", "U+001B", "character 1 "),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_titles_with_control_characters_are_refused_saying_which_and_where(db, questionnaire, name):
    text, code, where = HOSTILE[name]
    with pytest.raises(RoundTitleError) as refused:
        create_round(db, "R11", questionnaire, titles={"en": "Fine", "ru": text})
    assert refused.value.lang == "ru"
    assert str(refused.value).startswith("Title (Русский): " + where)
    assert code in str(refused.value)
    assert get_round(db, "R11") is None  # nothing half-created


def test_a_title_of_ten_thousand_characters_is_refused(db, questionnaire):
    with pytest.raises(RoundTitleError, match=r"10,000 characters; the limit is 200"):
        create_round(db, "R12", questionnaire, titles={"zh": "题" * 10_000})
    ok = create_round(db, "R12", questionnaire, titles={"zh": "题" * 200})
    assert len(ok["title_zh"]) == 200


# -- migration 0009 ----------------------------------------------------------------------------


def test_migration_gives_old_rounds_title_columns_and_translates_the_generated_titles(
    tmp_path, questionnaire
):
    db = connect(tmp_path / "old.db", migrate=False)
    migrate(db, until="0008_report_versions")
    load_states(db)
    # Rounds as the code before 0009 wrote them: one title, in English.
    for round_id, title in [
        ("2026", "Self-assessment 2026"),  # a fresh database's round (ensure_default_round)
        ("R1", "Self-assessment round R1"),  # a round created without a title
        ("R2", "Session extraordinaire"),  # a title an administrator typed
        ("R3", "Self-assessment 2026 (second call)"),  # only exact generated titles change
    ]:
        db.execute(
            "INSERT INTO rounds (id, title, questionnaire_id, questionnaire_version, instruments,"
            " status, created_at) VALUES (?, ?, ?, ?, '[\"TIP\"]', 'open', '2026-01-01T00:00:00Z')",
            [round_id, title, questionnaire.id, questionnaire.version],
        )
    response = get_or_create_response(db, "R2", "KEN")
    save_provision(db, response["id"], "TIP-5-1", {"compliance": "fully"}, user_id=None)
    before = db.execute("SELECT * FROM answers").fetchall()

    assert migrate(db) == [ROUND_TITLES_MIGRATION]
    assert migrate(db) == []  # runs once

    columns = {row[1] for row in db.execute("PRAGMA table_info(rounds)")}
    assert set(TITLE_COLUMNS.values()) <= columns
    assert round_titles(get_round(db, "2026")) == SELF_ASSESSMENT_2026
    r1 = round_titles(get_round(db, "R1"))
    assert set(r1) == set(LANGUAGES) and r1["es"] == "Ronda de autoevaluación R1"
    assert round_titles(get_round(db, "R2")) == {"en": "Session extraordinaire"}
    assert round_titles(get_round(db, "R3")) == {"en": "Self-assessment 2026 (second call)"}
    # What older code reads is unchanged, and so are the answers.
    assert [r[0] for r in db.execute("SELECT title FROM rounds ORDER BY id")] == [
        "Self-assessment 2026",
        "Self-assessment round R1",
        "Session extraordinaire",
        "Self-assessment 2026 (second call)",
    ]
    assert db.execute("SELECT * FROM answers").fetchall() == before
    db.conn.close()


# -- respondent pages --------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["fr", "ar", "zh"])
def test_overview_shows_the_round_title_in_the_respondents_language(login_as, titled_round, lang):
    page = _in(lang, login_as("ken@example.org"), f"/fill/{titled_round}/")
    heading = H1.search(page).group(1)
    assert escape(TITLES[lang]) in heading
    assert TITLES["en"] not in page
    assert TITLES[lang] in TITLE_TAG.search(page).group(1)
    assert 'class="fallback"' not in heading


@pytest.mark.parametrize("lang", ["es", "ru"])
def test_a_missing_title_is_shown_in_english_marked_as_english(login_as, titled_round, lang):
    ken = login_as("ken@example.org")
    page = _in(lang, ken, f"/fill/{titled_round}/")
    assert _fallback(lang, TITLES["en"]) in H1.search(page).group(1)
    # <title> cannot hold markup: the plain English title.
    assert TITLES["en"] in TITLE_TAG.search(page).group(1)
    # The chapter page's crumbs and the submit page use the same filter.
    chapter = ken.client.get(f"/fill/{titled_round}/TIP/general_provisions").get_data(as_text=True)
    assert _fallback(lang, TITLES["en"]) in chapter
    submit = ken.client.get(f"/fill/{titled_round}/submit").get_data(as_text=True)
    assert _fallback(lang, TITLES["en"]) in submit


def test_the_fallback_is_marked_by_the_summaries_own_rule(app):
    css = Path(app.static_folder, "style.css").read_text(encoding="utf-8")
    assert '.fallback::after { content: " (EN)";' in css


def test_english_pages_show_the_english_title_unmarked(login_as, titled_round):
    page = _in("en", login_as("ken@example.org"), f"/fill/{titled_round}/")
    assert escape(TITLES["en"]) in H1.search(page).group(1)
    assert 'class="fallback"' not in H1.search(page).group(1)


def test_a_title_with_markup_is_shown_as_text(db, login_as, questionnaire):
    create_round(
        db,
        "R13",
        questionnaire,
        titles={"en": "<script>alert(1)</script>", "fr": '<img src=x onerror="alert(1)">'},
    )
    ken = login_as("ken@example.org")
    for lang in ("fr", "es"):
        page = _in(lang, ken, "/fill/R13/")
        assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=" in _in("fr", ken, "/fill/R13/")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in _in("es", ken, "/fill/R13/")


def test_review_and_report_pages_show_the_title_in_the_page_language(db, login_as, titled_round):
    get_or_create_response(db, titled_round, "KEN")
    analyst = login_as("analyst@example.org")
    for url in (
        f"/responses/{titled_round}/",
        f"/responses/{titled_round}/KEN/",
        f"/reports/{titled_round}/",
        f"/reports/{titled_round}/heatmap",
    ):
        page = _in("zh", analyst, url)
        assert escape(TITLES["zh"]) in H1.search(page).group(1), url
    # Round pickers list every round in the page language (plain text inside <option>).
    page = _in("zh", analyst, f"/responses/{titled_round}/")
    assert f">{SELF_ASSESSMENT_2026['zh']}</option>" in page


# -- admin -------------------------------------------------------------------------------------


def _titles_form(**titles):
    return {TITLE_COLUMNS[lang]: titles.get(lang, "") for lang in LANGUAGES}


def test_admin_opens_a_round_with_titles_in_several_languages(login_as, db):
    admin = login_as("boss@example.org")
    response = admin.post(
        "/admin/rounds", {"round_id": "2028", **_titles_form(**TITLES)}, form_url="/admin/rounds"
    )
    assert response.status_code == 302
    assert round_titles(get_round(db, "2028")) == TITLES
    page = _in("ar", admin, "/admin/rounds")
    assert escape(TITLES["ar"]) in page
    # Each field says its language; Arabic is typed right to left.
    assert re.search(r'<input[^>]*dir="rtl"[^>]*id="title_ar"[^>]*lang="ar"', page)


def test_admin_edit_keeps_every_language(login_as, db, titled_round):
    admin = login_as("boss@example.org")
    url = f"/admin/rounds/{titled_round}"
    page = admin.client.get(url).get_data(as_text=True)
    for lang, text in TITLES.items():
        assert f'value="{escape(text)}"' in page, lang
    # The browser sends every field back: change Spanish, keep the others as shown.
    edited = {**TITLES, "es": "Sesión extraordinaria 2027"}
    assert admin.post(url, _titles_form(**edited)).status_code == 302
    assert round_titles(get_round(db, titled_round)) == edited
    # Emptying a field removes that language's title (pages fall back to English).
    del edited["zh"]
    assert admin.post(url, _titles_form(**edited)).status_code == 302
    assert round_titles(get_round(db, titled_round)) == edited
    # The English title is required.
    refused = admin.post(url, _titles_form(**{**edited, "en": ""}))
    assert refused.status_code == 200
    assert "The English title cannot be empty" in refused.get_data(as_text=True)
    assert round_titles(get_round(db, titled_round)) == edited
    assert admin.client.get("/admin/rounds/nope").status_code == 404


@pytest.mark.parametrize(
    "hostile, message",
    [
        ("\u202eevil", "character 1 is an invisible control character (U+202E)"),
        ("Session\x00", "character 8 is an invisible control character (U+0000)"),
        ("x" * 10_000, "This text has 10,000 characters; the limit is 200."),
    ],
    ids=["rtl-override", "nul", "10000-characters"],
)
def test_admin_form_refuses_a_hostile_title_and_keeps_what_was_typed(
    login_as, db, hostile, message
):
    admin = login_as("boss@example.org")
    typed = {"round_id": "2029", **_titles_form(en="Session 2029", fr=hostile, zh="2029年会议")}
    response = admin.post("/admin/rounds", typed, form_url="/admin/rounds")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in page
    assert get_round(db, "2029") is None
    # Nothing typed is lost: every field comes back with its value.
    assert 'value="2029"' in page and 'value="Session 2029"' in page
    assert 'value="2029年会议"' in page
    assert f'value="{escape(hostile)}"' in page
    # The same check on the edit form, in the admin's language.
    _in("fr", admin, "/admin/rounds")
    edit = admin.post("/admin/rounds/2026", _titles_form(**{**SELF_ASSESSMENT_2026, "ru": hostile}))
    assert edit.status_code == 200
    assert round_titles(get_round(db, "2026")) == SELF_ASSESSMENT_2026
    assert f'value="{escape(hostile)}"' in edit.get_data(as_text=True)


def test_the_english_title_of_a_new_round_is_checked_too(login_as, db):
    admin = login_as("boss@example.org")
    page = admin.post(
        "/admin/rounds",
        {"round_id": "2032", **_titles_form(en="a\u202eb")},
        form_url="/admin/rounds",
    ).get_data(as_text=True)
    assert "Title (English): character 2 is an invisible control character (U+202E)" in page
    long = admin.post(
        "/admin/rounds",
        {"round_id": "2032", **_titles_form(en="x" * 10_000)},
        form_url="/admin/rounds",
    ).get_data(as_text=True)
    assert long.count('<li><a href="#title">') == 1  # one message, not two for one mistake
    assert get_round(db, "2032") is None


def test_admin_messages_are_in_the_admins_language(login_as, db):
    admin = login_as("boss@example.org")
    _in("fr", admin, "/admin/rounds")
    page = admin.post("/admin/rounds", {"round_id": "2030", **_titles_form(ar="\u202bx")}).get_data(
        as_text=True
    )
    assert (
        "Titre (العربية) : le caractère n° 1 est un caractère de contrôle invisible (U+202B)"
        in page
    )


# -- command line ------------------------------------------------------------------------------


def test_cli_creates_a_round_with_titles_and_changes_some(db_path):
    run = CliRunner().invoke
    created = run(
        main,
        ["rounds", "create", "2031", "--db", str(db_path), "--title", "Session 2031"]
        + ["--title-fr", "Session 2031 (fr)", "--title-ar", "جلسة 2031"],
    )
    assert created.exit_code == 0, created.output
    shown = run(main, ["rounds", "titles", "2031", "--db", str(db_path)])
    assert shown.output.splitlines() == [
        "en  Session 2031",
        "fr  Session 2031 (fr)",
        "es  (none: shown in English)",
        "ru  (none: shown in English)",
        "zh  (none: shown in English)",
        "ar  جلسة 2031",
    ]
    changed = run(
        main,
        ["rounds", "titles", "2031", "--db", str(db_path), "--title-zh", "2031年会议"]
        + ["--title-fr", ""],
    )
    assert changed.exit_code == 0, changed.output
    assert "zh  2031年会议" in changed.output and "fr  (none: shown in English)" in changed.output
    assert "ar  جلسة 2031" in changed.output
    refused = run(
        main, ["rounds", "titles", "2031", "--db", str(db_path), "--title-es", "a\u202eb"]
    )
    assert refused.exit_code == 1
    assert "Title (Español): character 2 is an invisible control character (U+202E)" in (
        refused.output
    )
    missing = run(main, ["rounds", "titles", "nope", "--db", str(db_path)])
    assert missing.exit_code == 1 and "no round 'nope'" in missing.output


# -- files -------------------------------------------------------------------------------------


def test_offline_file_has_the_round_title_in_its_language(
    db, questionnaire, titled_round, tmp_path
):
    for lang in ("fr", "es"):
        path = tmp_path / f"{lang}.xlsx"
        export_offline(db, questionnaire, titled_round, "KEN", path, lang=lang)
        first = load_workbook(path)["Instructions"]["A1"].value
        assert (TITLES.get(lang) or TITLES["en"]) in first, lang


def test_csv_and_analyst_workbook_keep_the_english_title_and_do_not_change(
    db, questionnaire, titled_round, tmp_path
):
    response = get_or_create_response(db, titled_round, "KEN")
    save_provision(db, response["id"], "TIP-5-1", {"compliance": "fully"}, user_id=None)
    before = io.BytesIO()
    write_csv(db, questionnaire, titled_round, before, lang="fr")
    set_round_titles(db, titled_round, {"es": "Sesión extraordinaria", "fr": "Autre titre"})
    after = io.BytesIO()
    write_csv(db, questionnaire, titled_round, after, lang="fr")
    assert after.getvalue() == before.getvalue()
    assert b"Autre titre" not in after.getvalue()
    path = tmp_path / "fr.xlsx"
    write_workbook(db, questionnaire, titled_round, path, lang="fr")
    about = {r[0]: r[1] for r in load_workbook(path)["About"].iter_rows(values_only=True) if r[0]}
    assert about["Round"] == titled_round
    assert about["Round title"] == TITLES["en"]
