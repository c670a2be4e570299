"""The six UN languages: interface catalogs, questionnaire labels, State names, RTL, exports."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from markupsafe import escape

from survey.i18n import LANGUAGES
from survey.i18n_check import catalog_gaps, questionnaire_gaps


def translated(lang, msgid):
    from babel.messages.pofile import read_po

    from survey.i18n_check import TRANSLATIONS

    with open(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po", "rb") as f:
        message = read_po(f, locale=lang).get(msgid)
    assert message is not None and message.string, f"{lang}: no translation of {msgid!r}"
    return message.string


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
def test_interface_catalog_is_complete(lang):
    assert catalog_gaps(lang) == []


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
def test_standard_block_and_answer_options_are_translated(questionnaire, lang):
    gaps = questionnaire_gaps(questionnaire, lang)
    assert gaps["standard block"] == [] and gaps["choice lists"] == []
    assert gaps["titles"] == []  # instrument and chapter titles too


def test_completeness_check_command_passes():
    from survey.cli import main

    result = CliRunner().invoke(main, ["questionnaire", "check", "--languages"])
    assert result.exit_code == 0, result.output
    assert "All translations are present." in result.output
    assert "[ar] interface: 0 missing" in result.output


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_key_pages_render_in_each_language(login_as, round_id, questionnaire, lang):
    ken = login_as("ken@example.org")
    ken.post("/language", {"lang": lang}, form_url=f"/fill/{round_id}/")
    page = ken.client.get(f"/fill/{round_id}/TIP/general_provisions").get_data(as_text=True)
    assert f'<html lang="{lang}" dir="{"rtl" if lang == "ar" else "ltr"}">' in page
    log_out = "Log out" if lang == "en" else translated(lang, "Log out")
    assert log_out in page
    yes_fully = questionnaire.choice_list("compliance_mandatory").label("fully", lang)
    assert yes_fully in page
    if lang != "en":
        assert yes_fully != "Yes, fully"
        # Provision titles and summaries come from translations/<lang>.yaml, marked as a
        # working translation; the English summary is not on the page.
        provision = questionnaire.chapters["TIP/general_provisions"].provisions[0]
        assert escape(provision.summary.get(lang)) in page
        assert provision.summary.get(lang) != provision.summary.en
        assert escape(provision.summary.en) not in page
        assert escape(provision.title_text.get(lang)) in page
        assert translated(lang, "Working translation") in page
    else:
        assert "Working translation" not in page
        overview = ken.client.get(f"/fill/{round_id}/").get_data(as_text=True)
        from survey.storage.states import reference_states

        kenya = next(s for s in reference_states() if s["iso3"] == "KEN")
        assert kenya[f"name_{lang}"] in overview


def test_language_is_saved_for_the_user(login_as, round_id, db, people):
    ken = login_as("ken@example.org")
    ken.post("/language", {"lang": "fr"}, form_url=f"/fill/{round_id}/")
    assert (
        db.execute("SELECT language FROM users WHERE email = 'ken@example.org'").fetchone()[0]
        == "fr"
    )
    again = login_as("ken@example.org")  # a new browser: the saved choice applies
    assert 'lang="fr"' in again.client.get(f"/fill/{round_id}/").get_data(as_text=True)


def test_browser_language_is_used_on_first_visit(client):
    page = client.get("/login", headers={"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"}).get_data(
        as_text=True
    )
    assert '<html lang="es"' in page
    page = client.get("/login", headers={"Accept-Language": "ar"}).get_data(as_text=True)
    assert 'dir="rtl"' in page
    page = client.get("/login", headers={"Accept-Language": "de-DE"}).get_data(as_text=True)
    assert '<html lang="en"' in page


def test_language_switch_is_on_every_page_and_refuses_unknown_codes(client, actions):
    page = client.get("/login").get_data(as_text=True)
    assert 'id="lang-switch"' in page and all(f'value="{code}"' in page for code in LANGUAGES)
    actions.post("/language", {"lang": "xx", "next": "/login"}, form_url="/login")
    assert '<html lang="en"' in client.get("/login").get_data(as_text=True)
    response = actions.post(
        "/language", {"lang": "fr", "next": "https://evil.example/"}, form_url="/login"
    )
    assert response.headers["Location"] == "/"


def test_export_labels_follow_lang_and_codes_do_not_change(
    db_path, db, round_id, questionnaire, tmp_path
):
    from openpyxl import load_workbook

    from survey.cli import main
    from survey.responding import save_provision
    from survey.storage.responses import change_status, get_or_create_response

    response = get_or_create_response(db, round_id, "EGY")
    save_provision(
        db,
        response["id"],
        "TIP-5",
        {"compliance": "partly", "ta_needed": "yes", "ta_types": ["legal_advice"]},
        user_id=None,
    )
    change_status(db, response["id"], "submitted", user_id=None)
    runner = CliRunner()
    books = {}
    for lang in ("en", "fr"):
        out = tmp_path / f"{lang}.xlsx"
        result = runner.invoke(
            main,
            [
                "export",
                "xlsx",
                "--db",
                str(db_path),
                "--round",
                round_id,
                "--lang",
                lang,
                "-o",
                str(out),
            ],
        )
        assert result.exit_code == 0, result.output
        books[lang] = load_workbook(out, read_only=True)
    rows = {
        lang: [r for r in book["Answers"].iter_rows(values_only=True)]
        for lang, book in books.items()
    }
    header = rows["en"][0]
    value, label, state = header.index("value"), header.index("value_label"), header.index("state")
    en = next(r for r in rows["en"] if r[header.index("question")] == "compliance")
    fr = next(r for r in rows["fr"] if r[header.index("question")] == "compliance")
    assert en[value] == fr[value] == "partly"
    assert en[label] == "Partly"
    assert fr[label] == questionnaire.choice_list("compliance").label("partly", "fr") != "Partly"
    assert en[state] == "Egypt" and fr[state] == "Égypte"
    for book in books.values():
        book.close()


def test_message_template_is_up_to_date_with_the_code(tmp_path):
    """Every marked string of the code and templates is in messages.pot (run the extract command)."""
    import shutil
    import subprocess
    from pathlib import Path

    from babel.messages.pofile import read_po

    from survey.i18n_check import EXTRACT_KEYWORDS, TRANSLATIONS

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "fresh.pot"
    pybabel = shutil.which("pybabel") or str(Path(__import__("sys").executable).parent / "pybabel")
    subprocess.run(
        [
            pybabel,
            "extract",
            "-F",
            "babel.cfg",
            *(arg for keyword in EXTRACT_KEYWORDS for arg in ("-k", keyword)),
            "--no-location",
            "-o",
            str(out),
            ".",
        ],
        cwd=root,
        check=True,
        capture_output=True,
    )
    with open(out, "rb") as f:
        fresh = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}
    with open(TRANSLATIONS / "messages.pot", "rb") as f:
        shipped = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}
    assert fresh - shipped == set(), "new strings: run the extract command in docs/translations.md"


def test_the_documented_extract_command_uses_the_tested_keywords():
    from pathlib import Path

    from survey.i18n_check import EXTRACT_KEYWORDS

    docs = (Path(__file__).resolve().parents[1] / "docs" / "translations.md").read_text()
    command = re.search(r"pybabel extract (.*?)-o ", docs, re.S).group(1)
    assert re.findall(r"-k (\S+)", command) == list(EXTRACT_KEYWORDS)


def test_times_on_history_and_review_pages_are_in_the_users_locale_with_the_zone(
    db, round_id, login_as
):
    from survey.responding import save_provision
    from survey.storage.responses import change_status, get_or_create_response

    response = get_or_create_response(db, round_id, "KEN")
    save_provision(db, response["id"], "TIP-5", {"compliance": "partly"}, user_id=None)
    change_status(db, response["id"], "submitted", user_id=None)
    stamp = "2026-02-12T12:08:41Z"
    db.execute("UPDATE response_events SET at = ?", [stamp])
    db.execute("UPDATE responses SET updated_at = ?, submitted_at = ?", [stamp, stamp])
    db.execute(
        "UPDATE users SET language = 'fr' WHERE email IN ('ken@example.org', 'analyst@example.org')"
    )
    pages = [
        login_as("ken@example.org").client.get(f"/fill/{round_id}/history/TIP-5"),
        login_as("analyst@example.org").client.get(f"/responses/{round_id}/KEN/"),
        login_as("analyst@example.org").client.get("/responses/"),
    ]
    for page in pages:
        html = page.get_data(as_text=True)
        assert page.status_code == 200, page.request.path
        # No stored ISO time shows raw; times read as French dates with the zone stated.
        assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", html), page.request.path
        assert re.search(r"\d{1,2} [a-zéû]+\.? \d{4}, \d\d:\d\d:\d\d UTC", html), page.request.path
    assert "12 févr. 2026, 12:08:41 UTC" in pages[1].get_data(as_text=True)


@pytest.mark.parametrize("lang", ["fr", "ar"])
def test_form_labels_choices_and_messages_are_in_the_users_language(
    client, actions, db, people, login_as, round_id, lang
):
    """Every fixed form renders its own label (one source, survey.web.forms), translated, and its
    validator and refusal messages too: login, invitation, admin users and rounds, review."""
    from html import unescape

    from survey.responding import save_provision
    from survey.storage.responses import change_status, get_or_create_response
    from survey.storage.users import create_invitation

    def label(html, field, msgid):
        shown = re.search(f'<label for="{field}">([^<]*)</label>', html)
        assert shown and unescape(shown.group(1)) == translated(lang, msgid), msgid

    def shows(html, msgid, **values):
        text = translated(lang, msgid) % values if values else translated(lang, msgid)
        assert text in unescape(html), msgid

    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    login = client.get("/login").get_data(as_text=True)
    label(login, "email", "Email")
    label(login, "password", "Password")
    refused = actions.post("/login", {"email": "", "password": ""}).get_data(as_text=True)
    shows(refused, "Enter your email address.")
    shows(refused, "Enter your password.")

    invite = f"/invite/{create_invitation(db, people['ken2']['id'])}"
    page = client.get(invite).get_data(as_text=True)
    label(page, "password", "New password (at least 10 characters)")
    label(page, "confirm", "Repeat the password")
    differ = actions.post(invite, {"password": "a long password", "confirm": "another one!"})
    shows(differ.get_data(as_text=True), "The two passwords differ.")
    short = actions.post(invite, {"password": "short", "confirm": "short"})
    shows(
        short.get_data(as_text=True),
        "The password must have at least %(min)d characters and at most %(max)d.",
        min=10,
        max=1024,
    )

    db.execute("UPDATE users SET language = ?", [lang])
    boss = login_as("boss@example.org")
    users = boss.client.get("/admin/users").get_data(as_text=True)
    for field, msgid in [
        ("email", "Email"),
        ("name", "Name"),
        ("role", "Role"),
        ("state", "State (respondents only)"),
    ]:
        label(users, field, msgid)
    # The admin's own login just now: a time in the locale with its zone, not the stored stamp.
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", users)
    assert " UTC</td>" in users
    for code, msgid in [("respondent", "Respondent"), ("admin", "Administrator")]:
        assert f'<option value="{code}">{translated(lang, msgid)}</option>' in unescape(users)
    bad = boss.post("/admin/users", {"email": "not-an-address", "role": "analyst"})
    shows(bad.get_data(as_text=True), "'%(email)s' is not an email address", email="not-an-address")
    too_long = boss.post("/admin/users", {"email": "a@example.org", "name": "x" * 201})
    shows(
        too_long.get_data(as_text=True),
        "This is too long: at most %(max)d characters.",
        max=200,
    )

    rounds = boss.client.get("/admin/rounds").get_data(as_text=True)
    label(rounds, "round_id", "Round id (e.g. 2027)")
    title = re.search('<label for="title">([^<]*)</label>', rounds)
    assert title and unescape(title.group(1)) == translated(lang, "Title (%(language)s)") % {
        "language": "English"
    }
    label(rounds, "previous", "States may pre-fill from")
    bad_id = boss.post("/admin/rounds", {"round_id": "two words"}).get_data(as_text=True)
    shows(
        bad_id,
        "round id '%(id)s' may contain only letters, digits, '-', '_' and '.'",
        id="two words",
    )
    empty_id = boss.post("/admin/rounds", {"round_id": ""}).get_data(as_text=True)
    shows(empty_id, "Enter the round id.")

    response = get_or_create_response(db, round_id, "KEN")
    save_provision(db, response["id"], "TIP-5", {"compliance": "partly"}, user_id=None)
    change_status(db, response["id"], "submitted", user_id=None)
    analyst = login_as("analyst@example.org")
    review = analyst.client.get(f"/responses/{round_id}/KEN/").get_data(as_text=True)
    label(review, "comment", "Comment to the State (required to return)")

    ken = login_as("fra@example.org")
    upload = ken.client.get(f"/fill/{round_id}/offline").get_data(as_text=True)
    label(upload, "file", "Filled offline questionnaire (.xlsx)")
    empty = ken.post(f"/fill/{round_id}/offline", {}).get_data(as_text=True)
    shows(empty, "Choose the .xlsx file to upload.")


def test_numbers_in_the_national_report_follow_the_users_locale(db, round_id, login_as):
    """The national report's index, priority and severity use the locale's decimal sign."""
    from survey.responding import save_provision
    from survey.storage.responses import get_or_create_response

    response = get_or_create_response(db, round_id, "KEN")
    save_provision(
        db, response["id"], "TIP-5", {"compliance": "partly", "ta_needed": "yes"}, user_id=None
    )
    db.execute("UPDATE users SET language = 'fr' WHERE email = 'ken@example.org'")
    page = login_as("ken@example.org").client.get(f"/national/{round_id}/KEN")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    priorities = re.findall(r'<td class="num">(\d+[.,]\d{3})<br>', html)
    assert priorities and all("," in p for p in priorities), priorities
    severity = re.escape(translated("fr", "severity %(g)s").replace("%(g)s", ""))
    assert re.search(severity + r"\d+,\d{2}<", html)
